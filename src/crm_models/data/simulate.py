"""The simulated ``demo`` retailer: realistic CRM data whose true answers are known.

Every analysis in crm-models can be run on this made-up shop and checked against the truth that
generated it.  :func:`simulate_retailer` returns a :class:`SimulatedRetailer` with the four
contract tables (``transactions``, ``customers``, ``campaigns``, ``products``), a ``truth``
dictionary of tables that no real business would have, and the generating ``params``.

How the shop works, in plain words
----------------------------------
*Time.*  Shopping follows a rhythm: more on Fridays and weekends, most at lunchtime and in the
evening, and a strong November-December peak.  A day-of-week, an hour-of-day and a month
multiplier each average 1, so over a whole year a customer's average rate is unchanged; they are
in ``truth["seasonality"]``.  (Technically, purchase times are drawn on a "seasonal clock" that
runs faster in busy hours, which gives the same result as thinning a faster Poisson process,
without discarding draws.)

*Acquisition.*  A customer's first purchase is their sign-up.  New customers arrive over the
whole period at a rate that grows steadily (by default it doubles from the first day to the last)
and follows the same seasonal rhythm.  Customer ids are numbered in order of sign-up.

*Repeat buying (BG/NBD).*  While "alive", customer *i* buys at a personal rate ``lambda_`` per
week; rates differ between customers as a Gamma(shape ``r``, rate ``alpha``) distribution, nudged
mildly by the acquisition channel (referrals buy more often, social-media recruits less).  After
every repeat purchase the customer quits for good with a personal probability ``p_dropout``
(Beta(``a``, ``b``) across customers); nobody quits at the first purchase.  This is exactly the
BG/NBD model of Fader, Hardie and Lee (2005), with r = 0.75 and alpha = 4 (on average 0.19
purchases a week, about ten a year, but most customers buy far less and a few far more) and
a = 0.8, b = 2.5 (on average a 24% chance of quitting after each repeat purchase).  ``truth["customers"]`` records each rate, each
drop-out probability, and the moment the customer dropped out (``NaT`` if alive at the end).  A
customer who has dropped out never buys again - not even in response to a campaign - but may still
return goods bought earlier.

*Baskets.*  An order holds 1 + Poisson(0.6) different products.  Each is drawn from the catalogue
by popularity, or (35% of the time) from the customer's favourite category, which depends on age.
On top of that, ten planted "bought together" rules add a product to the basket: a basket holding
the antecedent gets the consequent with the stated probability (``truth["affinities"]``).  Each
line's quantity is 1 + Poisson(``quantity_mu``), where ``quantity_mu`` varies between customers
(a Gamma draw times age-band and region effects in ``truth["attribute_effects"]``), so big
spenders are recognisable from who they are.  A line's ``amount`` is quantity x list price.

*Channels.*  Each customer has personal web / store / app shares (young people lean to the app,
older people to the store); each order's channel is drawn from them.

*Returns.*  2-8% of lines, depending on the category (``truth["returns"]``), are returned
2 + Poisson(4) days later as negative lines (negative quantity and amount, part or all of the
quantity bought) in a separate order with an ``R...`` id, one per returning order.  Returns
that would fall after the end of the period are not recorded.

*Campaigns.*  At least four campaigns, spread evenly over the period (about one every six months).
Each goes to a random 85-90% of the customers who are eligible on the send date (already signed
up, gave marketing consent, not opted out), through the contact channel the customer prefers
(email / sms / post).  A random 25-30% of the audience is held out as a control group (``arm`` =
"control", ``treated`` False).  Some campaigns test two offers at once, randomly split.

*Who responds, and who is persuaded.*  Without a contact a customer buys in the response window
with probability ``p_control``: ``logit p_control = -3.4 + 1.8 exp(-w / 8) + 0.35 log(1 + n)
+ 0.15 [contacted by email] + 0.9 [sleeping dog]``, where ``w`` is the weeks since their last
purchase and ``n`` their purchases before the send date.  Being contacted with offer *a* adds the
true uplift ``p_treated - p_control``::

    uplift = (base_a + young_a [age < 35] + remote_a [North/East] + loyal_a min(n, 10) / 10
              + lapsing_a L(w)) x (1 - exp(-w / 4))
    L(w)   = exp(-(ln(w / 16))^2 / (2 x 0.6^2))       (1 at 16 weeks, 1/2 at 8 and 32 weeks)

so uplift is *not* a monotone function of the baseline, as in real campaigns (Radcliffe & Surry
2011, "Real-world uplift modelling with significance-based uplift trees", describe the four
groups):

* **sure things**: recent, frequent buyers have the highest ``p_control`` but buy anyway; the last
  factor cuts their uplift to a fraction (a fifth one week after a purchase, two thirds after four);
* **persuadables**: customers drifting away (last purchase 2-7 months ago, ``L``) respond to a
  reminder, and each offer has its own audience: young customers react most to discounts,
  customers in the North and East to free shipping, loyal (frequent) customers to loyalty points;
* **lost causes**: dropped-out customers never respond (uplift 0); long-lapsed ones barely;
* **sleeping dogs**: a small group (mostly 55+) buy more often anyway but are put off by being
  contacted: their uplift is ``SLEEPING_DOG_UPLIFT`` (negative) whatever the offer.

Ranking by the probability of buying therefore finds sure things and sleeping dogs, not the
persuadable customers (among the customers still alive, ``p_control`` and uplift have a rank
correlation of about -0.65); an uplift model has to find them.  ``truth["uplift"]`` holds
``p_control``, ``p_treated`` and ``uplift`` for every audience member and every offer of the
campaign, whether or not they received it.  Each response is a real order (``K...`` id) in the campaign's redemption
channel, on one of the 14 days after the send day (earlier if the customer drops out first);
``response_amount`` equals that order's value at list price.

*Permission.*  80% of customers give marketing consent at sign-up.  Consenting customers opt out
over time at about 6% a year (reasons such as "not relevant" or "privacy"), and each mailing
itself makes some opt out within three days ("too many messages"; sms most, post least, sleeping
dogs four times as often).  Nobody is contacted after opting out.

*Personal data.*  ``name``, ``email`` and ``phone`` are obviously fake ("Customer 123",
"c123@example.com", "+00 555 0000123"); they exist so that tests can prove loading strips them.

The truth
---------
``truth`` holds: ``customers`` (per customer: ``lambda_``, ``p_dropout``, ``dropout_date``,
``alive_at_end``, ``quantity_mu``, expected line and order values, expected purchases and spend in
the next 52 weeks, favourite category, channel shares, consent, sleeping-dog flag), ``uplift``,
``affinities``, ``seasonality``, ``campaigns`` (the campaign plan), ``returns`` (return rate by
category) and ``attribute_effects`` (the multipliers on ``lambda_`` and ``quantity_mu``).
Expected lines and values are exact for an ordinary (``O...``) order of that customer.

With the defaults (20,000 customers, 2023-01-01 to 2025-06-30) the log has about 180,000 lines:
about 95,000 ordinary orders (168,000 lines), 2,600 campaign response orders (5,800 lines) and
7,500 return lines; five campaigns reach about 29,000 customer contacts in all; about half of the
customers have dropped out by the end.  Everything is drawn from one
``numpy.random.default_rng(seed)``: the same arguments give identical tables.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["IdOffset", "SimulatedRetailer", "simulate_retailer"]

DAY_S = 86_400
WEEK_S = 7 * DAY_S
HOUR_S = 3_600
_NEVER = np.iinfo(np.int64).max  # "no such event" for times held as int64 seconds
_TS_UNIT = "datetime64[us]"

# --- the generating parameters ------------------------------------------------------------
BGNBD = {"r": 0.75, "alpha": 4.0, "a": 0.8, "b": 2.5}  # lambda per week ~ Gamma(r, rate alpha)
ACQUISITION_TREND = 1.0  # new-customer rate on the last day = (1 + trend) x rate on the first
EXTRA_LINES_MEAN = 0.6  # an organic order has 1 + Poisson(0.6) distinct products
RESPONSE_EXTRA_LINES_MEAN = 1.0  # a campaign response order has 1 + Poisson(1.0)
FAVOURITE_WEIGHT = 0.35  # share of basket lines drawn from the customer's favourite category
QUANTITY_MU_BASE = 0.5  # quantity = 1 + Poisson(mu_i), mu_i = base x effects x Gamma(4, 1/4)
QUANTITY_MU_SHAPE = 4.0
CONSENT_RATE = 0.8
OPT_OUT_RATE_PER_YEAR = 0.06
OPT_OUT_REASONS = {"not relevant": 0.45, "privacy": 0.25, "moved away": 0.1, "other": 0.2}
TRIGGERED_OPT_OUT = {"email": 0.01, "sms": 0.025, "post": 0.005}
SLEEPING_DOG_OPT_OUT_FACTOR = 4.0
SLEEPING_DOG_SHARE = {"55+": 0.2, "under 55": 0.02}
RESPONSE_WINDOW_DAYS = 14
RETURN_DELAY_DAYS = (2, 4.0)  # 2 + Poisson(4) days after the order

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_BAND_RANGE = ((18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 85))
AGE_BAND_P = (0.12, 0.22, 0.21, 0.18, 0.15, 0.12)
GENDERS = ("F", "M", "U")
GENDER_P = (0.52, 0.46, 0.02)
REGIONS = ("North", "South", "East", "West", "Central")
REGION_P = (0.18, 0.22, 0.17, 0.20, 0.23)
ACQ_CHANNELS = ("organic_search", "paid_search", "social", "referral", "store")
ACQ_P = (0.25, 0.20, 0.20, 0.10, 0.25)
LAMBDA_MULT_RAW = (1.0, 0.9, 0.8, 1.25, 1.1)  # per acquisition channel, rescaled to mean 1
CONTACT_CHANNELS = ("email", "sms", "post")
CONTACT_P_BY_AGE = (  # rows: age bands; columns: email, sms, post
    (0.60, 0.35, 0.05),
    (0.62, 0.32, 0.06),
    (0.65, 0.25, 0.10),
    (0.65, 0.20, 0.15),
    (0.60, 0.15, 0.25),
    (0.50, 0.15, 0.35),
)
ORDER_CHANNELS = ("web", "store", "app")
ORDER_CHANNEL_CONC_BY_AGE = (  # Dirichlet concentrations of a customer's web/store/app shares
    (1.5, 0.8, 2.0),
    (1.8, 1.0, 1.6),
    (1.8, 1.3, 1.0),
    (1.6, 1.6, 0.6),
    (1.2, 2.0, 0.4),
    (0.8, 2.6, 0.25),
)
QUANTITY_MULT_AGE = (0.75, 0.9, 1.15, 1.25, 1.05, 0.9)
QUANTITY_MULT_REGION = (0.9, 1.0, 0.95, 1.05, 1.2)

WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_RAW = (0.88, 0.86, 0.90, 0.95, 1.08, 1.25, 1.08)
MONTH_LABELS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_RAW = (0.85, 0.80, 0.90, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 1.00, 1.30, 1.60)
MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
HOUR_RAW = (
    0.15, 0.08, 0.05, 0.05, 0.05, 0.10, 0.30, 0.60, 0.90, 1.10, 1.30, 1.50,
    1.80, 1.70, 1.40, 1.30, 1.30, 1.40, 1.60, 1.90, 2.00, 1.70, 1.10, 0.50,
)  # fmt: skip

# category: (share of base lines, typical price, return rate, products by popularity)
CATALOGUE = {
    "Apparel": (0.22, 32.0, 0.08, (
        "Basic T-shirt", "Slim jeans", "Hoodie", "Summer dress", "Chino trousers", "Wool jumper",
        "Denim jacket", "Polo shirt", "Leggings", "Rain jacket", "Linen shirt", "Pyjama set",
        "Winter coat", "Silk scarf", "Knitted beanie")),
    "Footwear": (0.08, 65.0, 0.07, (
        "Running shoes", "Leather boots", "White sneakers", "Sandals", "Slippers", "Loafers",
        "Hiking boots", "Ballet flats", "Trail shoes", "Flip-flops", "Shoe care kit",
        "Ankle boots", "Court shoes", "Football boots", "Wellington boots")),
    "Beauty": (0.15, 16.0, 0.02, (
        "Shampoo", "Face cream", "Lip balm", "Body lotion", "Sun cream", "Mascara", "Shower gel",
        "Hand cream", "Conditioner", "Perfume", "Nail polish", "Face mask", "Hair oil",
        "Deodorant", "Make-up brushes")),
    "Home": (0.14, 38.0, 0.04, (
        "Scented candle", "Bed linen set", "Coffee mug", "Bath towel", "Cushion", "Table lamp",
        "Picture frame", "Storage box", "Kitchen knife", "Vase", "Throw blanket", "Plant pot",
        "Doormat", "Wall clock", "Serving bowl")),
    "Electronics": (0.07, 110.0, 0.05, (
        "Smartphone", "Tablet", "Wireless earbuds", "Phone charger", "Bluetooth speaker",
        "Smartwatch", "USB cable", "Power bank", "Phone case", "Headphones", "Batteries",
        "E-reader", "Tablet cover", "Laptop stand", "Webcam")),
    "Toys": (0.08, 24.0, 0.03, (
        "Building blocks", "Board game", "Remote-control car", "Plush bear", "Jigsaw puzzle",
        "Toy car", "Doll", "Colouring book", "Art set", "Card game", "Play dough", "Kite",
        "Toy kitchen", "Bubble wand", "Dinosaur figure")),
    "Sports": (0.10, 42.0, 0.04, (
        "Yoga mat", "Water bottle", "Dumbbells", "Gym bag", "Tennis balls", "Resistance bands",
        "Cycling gloves", "Football", "Swim goggles", "Sports socks", "Tennis racket",
        "Foam roller", "Skipping rope", "Bike light", "Sports cap")),
    "Books": (0.16, 14.0, 0.02, (
        "Bestseller novel", "Cookbook", "Crime thriller", "Children's picture book",
        "Travel guide", "Biography", "Notebook", "Fantasy novel", "Self-help book",
        "History book", "Bookmark set", "Poetry collection", "Comic book", "Reading light",
        "Atlas")),
}  # fmt: skip
POPULARITY_EXPONENT = 0.8  # within a category, popularity ~ 1 / rank**0.8
FAVOURITE_P_BY_AGE = (  # columns in CATALOGUE order
    (0.25, 0.12, 0.15, 0.03, 0.20, 0.02, 0.15, 0.08),
    (0.20, 0.10, 0.15, 0.08, 0.15, 0.10, 0.12, 0.10),
    (0.15, 0.08, 0.12, 0.15, 0.10, 0.18, 0.10, 0.12),
    (0.14, 0.08, 0.12, 0.20, 0.10, 0.10, 0.10, 0.16),
    (0.12, 0.08, 0.12, 0.25, 0.08, 0.08, 0.08, 0.19),
    (0.10, 0.07, 0.12, 0.27, 0.05, 0.10, 0.05, 0.24),
)
AFFINITIES = (  # antecedent -> consequent: probability the consequent is added
    ("Smartphone", "Phone case", 0.65),
    ("Tablet", "Tablet cover", 0.60),
    ("Shampoo", "Conditioner", 0.70),
    ("Running shoes", "Sports socks", 0.55),
    ("Yoga mat", "Foam roller", 0.50),
    ("Bestseller novel", "Bookmark set", 0.50),
    ("Bed linen set", "Throw blanket", 0.55),
    ("Leather boots", "Shoe care kit", 0.60),
    ("Remote-control car", "Batteries", 0.70),
    ("Cookbook", "Kitchen knife", 0.50),
)

# campaign designs, cycled over the campaigns: (offers, audience share, control share)
CAMPAIGN_DESIGNS = (
    (("discount_10",), 0.85, 0.25),
    (("discount_10", "free_shipping"), 0.90, 0.30),
    (("loyalty_points",), 0.85, 0.25),
    (("discount_20", "free_shipping"), 0.90, 0.30),
    (("discount_10",), 0.85, 0.25),
)
REDEMPTION_CHANNELS = ("web", "app", "store", "web", "app")
CAMPAIGN_SEND_HOUR = 9
CAMPAIGN_SEND_WEEKDAY = 1  # Tuesday
# baseline response: logit p = b0 + b_recent * exp(-recency_weeks / 8) + b_freq * log1p(orders)
#                              + b_email [contact by email] + b_sleeping [sleeping dog]
RESPONSE_BASELINE = {
    "intercept": -3.4,
    "recent": 1.8,
    "log1p_frequency": 0.35,
    "email": 0.15,
    "sleeping_dog": 0.9,
    "recency_scale_weeks": 8.0,
}
# uplift = (base + young [age < 35] + remote [North/East] + loyal * min(orders, 10) / 10
#           + lapsing * L(recency_weeks)) * (1 - exp(-recency_weeks / SURE_THING_WEEKS)),
# L(w) = exp(-ln(w / PERSUADABLE_PEAK_WEEKS)^2 / (2 PERSUADABLE_LOG_WIDTH^2));
# sleeping dogs: uplift = SLEEPING_DOG_UPLIFT (see the module docstring)
UPLIFT = {
    "discount_10": {"base": 0.005, "young": 0.04, "remote": 0.0, "loyal": 0.0, "lapsing": 0.09},
    "discount_20": {"base": 0.01, "young": 0.06, "remote": 0.0, "loyal": 0.0, "lapsing": 0.12},
    "free_shipping": {"base": 0.005, "young": 0.0, "remote": 0.05, "loyal": 0.0, "lapsing": 0.07},
    "loyalty_points": {"base": 0.003, "young": 0.0, "remote": 0.0, "loyal": 0.06, "lapsing": 0.05},
}
PERSUADABLE_PEAK_WEEKS = 16.0  # lapsing customers are most persuadable 16 weeks after a purchase
PERSUADABLE_LOG_WIDTH = 0.6  # ... and at least half as persuadable from 8 to 32 weeks
SURE_THING_WEEKS = 4.0  # recent buyers buy anyway: uplift x (1 - exp(-weeks / 4))
SLEEPING_DOG_UPLIFT = -0.06
REMOTE_REGIONS = ("North", "East")


def simulator_version() -> str:
    """Hash of this simulator's source: a cached demo is regenerated when the simulator changes."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


@dataclass
class SimulatedRetailer:
    """The simulated shop: contract tables, the hidden truth behind them, and the parameters."""

    transactions: pd.DataFrame
    customers: pd.DataFrame
    campaigns: pd.DataFrame
    products: pd.DataFrame
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def write(self, folder: str | Path) -> Path:
        """Write the four tables as Parquet (with a ``mapping.json`` stating the currency), the
        truth under ``truth/``; return the folder."""
        folder = Path(folder)
        (folder / "truth").mkdir(parents=True, exist_ok=True)
        for name in ("transactions", "customers", "campaigns", "products"):
            getattr(self, name).to_parquet(folder / f"{name}.parquet", index=False)
        (folder / "mapping.json").write_text(SIMULATED_MAPPING)
        for name, table in self.truth.items():
            table.to_parquet(folder / "truth" / f"{name}.parquet")
        (folder / "truth" / "params.json").write_text(json.dumps(self.params, indent=2) + "\n")
        return folder

    def __repr__(self) -> str:
        return (
            f"SimulatedRetailer(customers={len(self.customers):,}, "
            f"transactions={len(self.transactions):,}, campaigns={len(self.campaigns):,}, "
            f"products={len(self.products):,}, seed={self.params.get('seed')})"
        )


@dataclass(frozen=True)
class IdOffset:
    """Ids already taken by earlier chunks of one retailer, so a chunk numbers after them.

    ``customers`` is added to every customer id; ``orders`` to the numbers of the campaign
    response (``K``), ordinary (``O``) and return (``R``) orders.  Zero changes nothing.
    """

    customers: int = 0
    orders: tuple[int, int, int] = (0, 0, 0)  # K, O, R


# --- small helpers ---------------------------------------------------------------------------
def _normalised(x, weights=None) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    return x / (np.sum(x * w) / np.sum(w))


def _choice(rng: np.random.Generator, p, size: int) -> np.ndarray:
    """Category indices drawn with probabilities ``p`` (inverse-CDF, deterministic)."""
    cum = np.cumsum(np.asarray(p, dtype=float))
    cum /= cum[-1]
    return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(cum) - 1)


def _choice_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One category per element of ``rows``, drawn from that row of the probability matrix."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(rows))
    return (u[:, None] >= cum[rows, :-1]).sum(axis=1)


def _strings(codes: np.ndarray, labels) -> pd.Series:
    """A pandas ``str`` column from integer codes into ``labels`` (fast via Arrow)."""
    dictionary = pa.array(list(labels), type=pa.string())
    arr = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int32)), dictionary)
    return pd.Series(arr.cast(pa.large_string()), dtype=pd.StringDtype("pyarrow", na_value=np.nan))


SIMULATED_MAPPING = json.dumps({"options": {"currency": "USD"}}) + "\n"  # it sells in dollars


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0"
    )
    return pc.binary_join_element_wise(prefix, digits, "")


def _timestamps(start: pd.Timestamp, seconds: np.ndarray) -> np.ndarray:
    """int64 seconds after ``start`` as datetime64[us]; ``_NEVER`` becomes NaT."""
    seconds = np.asarray(seconds, dtype=np.int64)
    out = np.datetime64(start.to_datetime64(), "us") + (seconds * 1_000_000).astype(
        "timedelta64[us]"
    )
    out[seconds == _NEVER] = np.datetime64("NaT")
    return out


class _Clock:
    """Seasonal clock on an hourly grid: maps calendar seconds to 'operational weeks'.

    A Poisson process with rate ``lam * s(t)`` per week (``s`` = seasonal multiplier) is a
    rate-``lam`` process in operational time ``L(t) = integral of s``; ``to_calendar`` inverts it.
    """

    def __init__(self, start: pd.Timestamp, n_hours: int, trend: float):
        hours = pd.date_range(start, periods=n_hours, freq="h")
        self.weekday = _normalised(WEEKDAY_RAW)
        self.month = _normalised(MONTH_RAW, MONTH_DAYS)
        self.hour = _normalised(HOUR_RAW)
        s = (
            self.weekday[hours.day_of_week.to_numpy()]
            * self.month[hours.month.to_numpy() - 1]
            * self.hour[hours.hour.to_numpy()]
        )
        self.t = np.arange(n_hours + 1, dtype=float) * HOUR_S
        self.op = np.concatenate([[0.0], np.cumsum(s) / 168.0])
        mid = (np.arange(n_hours) + 0.5) / n_hours
        self.acq = np.concatenate([[0.0], np.cumsum(s * (1.0 + trend * mid))])
        self.end_s = n_hours * HOUR_S
        hour_cum = np.cumsum(self.hour)
        self.hour_cum = hour_cum / hour_cum[-1]

    def to_op(self, seconds: np.ndarray) -> np.ndarray:
        return np.interp(seconds, self.t, self.op)

    def to_calendar(self, op: np.ndarray) -> np.ndarray:
        sec = np.floor(np.interp(op, self.op, self.t)).astype(np.int64)
        return np.minimum(sec, self.end_s - 1)

    def acquisitions(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n) * self.acq[-1]
        return np.minimum(np.floor(np.interp(u, self.acq, self.t)).astype(np.int64), self.end_s - 1)

    def time_of_day(self, rng: np.random.Generator, n: int) -> np.ndarray:
        hour = np.minimum(np.searchsorted(self.hour_cum, rng.random(n), side="right"), 23)
        return hour * HOUR_S + rng.integers(0, HOUR_S, n)


class _Catalogue:
    def __init__(self, rng: np.random.Generator):
        names, cats, prices, pops, within = [], [], [], [], []
        for c, (share, price, _ret, products) in enumerate(CATALOGUE.values()):
            w = 1.0 / np.arange(1, len(products) + 1) ** POPULARITY_EXPONENT
            w /= w.sum()
            raw = price * rng.lognormal(-0.06, 0.35, len(products))
            prices.append(np.maximum(np.round(raw) - 0.01, 1.99))
            names.extend(products)
            cats.extend([c] * len(products))
            pops.append(share * w)
            within.append(w)
        self.categories = tuple(CATALOGUE)
        self.names = tuple(names)
        self.ids = tuple(f"P{i + 1:03d}" for i in range(len(names)))
        self.cat = np.asarray(cats)
        self.price = np.concatenate(prices)
        self.pop = np.concatenate(pops)
        self.pop /= self.pop.sum()
        self.within = np.concatenate(within)
        self.return_rate = np.array([v[2] for v in CATALOGUE.values()])
        self.global_cum = np.cumsum(self.pop)
        self.global_cum /= self.global_cum[-1]
        within_cum = np.concatenate([np.cumsum(w) for w in within])
        self.cat_start = np.searchsorted(self.cat, np.arange(len(self.categories)))
        self.cat_end = np.append(self.cat_start[1:], len(self.cat))
        within_cum[self.cat_end - 1] = 1.0
        self.within_cum = self.cat + within_cum  # category c occupies (c, c + 1]
        index = {n: i for i, n in enumerate(self.names)}
        self.pairs = [(index[a], index[b], p) for a, b, p in AFFINITIES]

    def expected_basket(self, extra_mean: float) -> tuple[np.ndarray, np.ndarray]:
        """Expected lines and list-price value (quantity 1) of an order, by favourite category.

        With K = 1 + Poisson(m) draws from product probabilities q, product j is in the basket
        with probability 1 - E[(1 - q_j)^K] = 1 - (1 - q_j) exp(-m q_j); an affinity rule adds
        its consequent B with probability p when A is present and B is not.
        """
        n_cat = len(self.categories)
        q = (1 - FAVOURITE_WEIGHT) * self.pop[None, :] + FAVOURITE_WEIGHT * self.within[None, :] * (
            self.cat[None, :] == np.arange(n_cat)[:, None]
        )

        def none_of(x):  # probability that none of the draws falls in a set of probability x
            return (1 - x) * np.exp(-extra_mean * x)

        present = 1 - none_of(q)
        lines, value = present.sum(axis=1), present @ self.price
        for a, b, p in self.pairs:
            a_not_b = none_of(q[:, b]) - none_of(q[:, a] + q[:, b])
            lines = lines + p * a_not_b
            value = value + p * a_not_b * self.price[b]
        return lines, value

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "product_id": _strings(np.arange(len(self.ids)), self.ids),
                "name": _strings(np.arange(len(self.names)), self.names),
                "category": _strings(self.cat, self.categories),
                "price": self.price.astype(np.float64),
            }
        )

    def draw_lines(self, rng, order_cust, extra_mean, fav, qty_mu):
        """Basket lines (order index, product index, quantity) for orders of given customers."""
        n_orders = len(order_cust)
        n_lines = 1 + rng.poisson(extra_mean, n_orders)
        order = np.repeat(np.arange(n_orders, dtype=np.int64), n_lines)
        cust = order_cust[order]
        u = rng.random(len(order))
        from_fav = rng.random(len(order)) < FAVOURITE_WEIGHT
        prod = np.searchsorted(self.global_cum, u, side="right")
        c = fav[cust[from_fav]]
        in_fav = np.searchsorted(self.within_cum, c + u[from_fav], side="right")
        prod[from_fav] = np.clip(in_fav, self.cat_start[c], self.cat_end[c] - 1)
        prod = np.minimum(prod, len(self.ids) - 1)
        n_products = len(self.ids)
        key = np.sort(order * n_products + prod)
        key = key[np.r_[True, key[1:] != key[:-1]][: key.size]]  # one line per product and order
        order, prod = key // n_products, key % n_products
        extra_order, extra_prod = [], []
        for a, b, p in self.pairs:
            has_a = np.zeros(n_orders, bool)
            has_a[order[prod == a]] = True
            has_a[order[prod == b]] = False
            cand = np.flatnonzero(has_a)
            add = cand[rng.random(len(cand)) < p]
            extra_order.append(add)
            extra_prod.append(np.full(len(add), b))
        order = np.concatenate([order, *extra_order])
        prod = np.concatenate([prod, *extra_prod])
        sort = np.lexsort((prod, order))
        order, prod = order[sort], prod[sort]
        qty = 1 + rng.poisson(qty_mu[order_cust[order]])
        return order, prod, qty.astype(np.int64)


def _campaign_plan(span_days: int, start: pd.Timestamp) -> list[dict]:
    """Campaigns evenly spread (one per ~6 months, at least 4), each sent on a Tuesday morning.

    Sends fall between day 14 and the last day that leaves a full response window.
    """
    n = max(4, round(span_days / 182))
    first, last = 14, span_days - RESPONSE_WINDOW_DAYS - 2
    plan = []
    for k in range(n):
        day = int(first + (last - first) * (k + 0.5) / n)
        weekday = (start + pd.Timedelta(days=day)).day_of_week
        day -= (weekday - CAMPAIGN_SEND_WEEKDAY) % 7  # back to that week's Tuesday
        arms, audience, control = CAMPAIGN_DESIGNS[k % len(CAMPAIGN_DESIGNS)]
        plan.append(
            {
                "campaign_id": f"CMP{k + 1:02d}",
                "send_s": day * DAY_S + CAMPAIGN_SEND_HOUR * HOUR_S,
                "arms": list(arms),
                "audience_share": audience,
                "control_share": control,
                "redemption_channel": REDEMPTION_CHANNELS[k % len(REDEMPTION_CHANNELS)],
            }
        )
    return plan


def _uplift(arm: str, young, remote, loyal, recency_weeks, sleeping) -> np.ndarray:
    """True uplift of offer ``arm`` (see the module docstring): persuadables lapsing, sure things
    recent, sleeping dogs negative."""
    c = UPLIFT[arm]
    w = np.maximum(np.asarray(recency_weeks, dtype=float), 1e-6)
    lapsing = np.exp(-(np.log(w / PERSUADABLE_PEAK_WEEKS) ** 2) / (2 * PERSUADABLE_LOG_WIDTH**2))
    tau = c["base"] + c["young"] * young + c["remote"] * remote + c["loyal"] * loyal
    tau = (tau + c["lapsing"] * lapsing) * -np.expm1(-w / SURE_THING_WEEKS)
    return np.where(sleeping, SLEEPING_DOG_UPLIFT, tau)


# --- the simulation --------------------------------------------------------------------------
def simulate_retailer(
    n_customers: int = 20_000,
    start: str | pd.Timestamp = "2023-01-01",
    end: str | pd.Timestamp = "2025-06-30",
    seed: int = 42,
    *,
    id_offset: IdOffset | None = None,
    catalogue_seed: int | None = None,
) -> SimulatedRetailer:
    """Simulate the ``demo`` retailer from ``start`` to ``end`` (both days included).

    See the module docstring for the generating process.  Same arguments, identical frames.
    ``id_offset`` and ``catalogue_seed`` make one chunk of a bigger retailer (see
    :mod:`crm_models.data.simulate_parquet`): ids after those of earlier chunks, and a catalogue drawn
    from its own seed so that every chunk sells the same products at the same prices.
    """
    off = id_offset or IdOffset()
    n = int(n_customers)
    if n < 1:
        raise ValueError("n_customers must be at least 1")
    start_ts = pd.Timestamp(start).normalize()
    end_ts = pd.Timestamp(end).normalize()
    span_days = (end_ts - start_ts).days + 1
    if span_days < 60:
        raise ValueError("the simulated period must cover at least 60 days")
    rng = np.random.default_rng(seed)
    clock = _Clock(start_ts, span_days * 24, ACQUISITION_TREND)
    end_s = clock.end_s
    cat = _Catalogue(rng if catalogue_seed is None else np.random.default_rng(catalogue_seed))

    # customers and their hidden traits
    band = _choice(rng, AGE_BAND_P, n)
    lo = np.array([r[0] for r in AGE_BAND_RANGE])[band]
    hi = np.array([r[1] for r in AGE_BAND_RANGE])[band]
    age = rng.integers(lo, hi + 1).astype(np.int64)
    gender = _choice(rng, GENDER_P, n)
    region = _choice(rng, REGION_P, n)
    acq = _choice(rng, ACQ_P, n)
    contact = _choice_rows(rng, np.array(CONTACT_P_BY_AGE), band)
    fav = _choice_rows(rng, np.array(FAVOURITE_P_BY_AGE), band)
    conc = np.array(ORDER_CHANNEL_CONC_BY_AGE)[band]
    shares = rng.gamma(conc) + 1e-12
    shares /= shares.sum(axis=1, keepdims=True)
    lam_mult = _normalised(LAMBDA_MULT_RAW, ACQ_P)
    lam = rng.gamma(BGNBD["r"], 1.0 / BGNBD["alpha"], n) * lam_mult[acq]
    lam = np.maximum(lam, 1e-9)
    p_drop = rng.beta(BGNBD["a"], BGNBD["b"], n)
    qty_mu = (
        QUANTITY_MU_BASE
        * np.asarray(QUANTITY_MULT_AGE)[band]
        * np.asarray(QUANTITY_MULT_REGION)[region]
        * rng.gamma(QUANTITY_MU_SHAPE, 1.0 / QUANTITY_MU_SHAPE, n)
    )
    old = age >= 55
    sleeping = rng.random(n) < np.where(
        old, SLEEPING_DOG_SHARE["55+"], SLEEPING_DOG_SHARE["under 55"]
    )
    consent = rng.random(n) < CONSENT_RATE

    # acquisition (customer ids follow sign-up order) and BG/NBD repeat purchases
    signup = np.sort(clock.acquisitions(rng, n))
    op_now = clock.to_op(signup)
    op_end = clock.op[-1]
    dropout = np.full(n, _NEVER, dtype=np.int64)
    buy_cust, buy_time = [np.arange(n, dtype=np.int64)], [signup]
    active = np.arange(n, dtype=np.int64)
    while active.size:
        nxt = op_now[active] + rng.exponential(1.0, active.size) / lam[active]
        inside = nxt < op_end
        active, nxt = active[inside], nxt[inside]
        t = clock.to_calendar(nxt)
        buy_cust.append(active)
        buy_time.append(t)
        op_now[active] = nxt
        quits = rng.random(active.size) < p_drop[active]
        dropout[active[quits]] = t[quits]
        active = active[~quits]
    o_cust = np.concatenate(buy_cust)
    o_time = np.concatenate(buy_time)
    sort = np.lexsort((o_cust, o_time))
    o_cust, o_time = o_cust[sort], o_time[sort]
    o_cum = np.cumsum(shares, axis=1)
    o_chan = (rng.random(len(o_cust))[:, None] >= o_cum[o_cust, :2]).sum(axis=1)
    l_order, l_prod, l_qty = cat.draw_lines(rng, o_cust, EXTRA_LINES_MEAN, fav, qty_mu)

    # opt-outs that happen on their own (campaign-triggered ones are added below)
    opt_out = signup + np.floor(rng.exponential(365.25 * DAY_S / OPT_OUT_RATE_PER_YEAR, n))
    opt_out = np.where(consent, opt_out.astype(np.int64), _NEVER)
    opt_out[opt_out >= end_s] = _NEVER
    reason = np.where(opt_out < _NEVER, _choice(rng, list(OPT_OUT_REASONS.values()), n), -1)
    too_many = len(OPT_OUT_REASONS)

    # campaigns
    plan = _campaign_plan(span_days, start_ts)
    remote_region = np.isin(np.asarray(REGIONS)[region], REMOTE_REGIONS)
    young = age < 35
    big = np.int64(end_s + 1)
    hist_key = np.sort(o_cust * big + o_time)
    camp_rows, uplift_rows = [], []
    k_cust, k_time, k_chan = [], [], []
    k_lines = []
    n_k = 0
    for ci, camp in enumerate(plan):
        send = camp["send_s"]
        eligible = np.flatnonzero((signup < send) & consent & (opt_out > send))
        members = eligible[rng.random(eligible.size) < camp["audience_share"]]
        m = members.size
        treated = rng.random(m) >= camp["control_share"]
        arms = camp["arms"]
        arm = np.where(treated, rng.integers(0, len(arms), m), -1)
        lo_i = np.searchsorted(hist_key, members * big)
        hi_i = np.searchsorted(hist_key, members * big + send)
        freq = hi_i - lo_i
        last = hist_key[np.maximum(hi_i - 1, 0)] - members * big
        recency_w = (send - last) / WEEK_S
        alive = dropout[members] > send
        recent = np.exp(-recency_w / RESPONSE_BASELINE["recency_scale_weeks"])
        sl = sleeping[members]
        logit = (
            RESPONSE_BASELINE["intercept"]
            + RESPONSE_BASELINE["recent"] * recent
            + RESPONSE_BASELINE["log1p_frequency"] * np.log1p(freq)
            + RESPONSE_BASELINE["email"] * (contact[members] == 0)
            + RESPONSE_BASELINE["sleeping_dog"] * sl
        )
        p0 = np.where(alive, 1.0 / (1.0 + np.exp(-logit)), 0.0)
        loyal = np.minimum(freq, 10) / 10.0
        p_arm = np.empty((len(arms), m))
        for j, name in enumerate(arms):
            tau = _uplift(name, young[members], remote_region[members], loyal, recency_w, sl)
            p_arm[j] = np.where(alive, np.clip(p0 + tau, 0.0, 1.0), 0.0)
            uplift_rows.append(
                pd.DataFrame(
                    {
                        "campaign_id": camp["campaign_id"],
                        "customer_id": members + 1,
                        "arm": name,
                        "p_control": p0,
                        "p_treated": p_arm[j],
                        "uplift": p_arm[j] - p0,
                        "alive_at_send": alive,
                        "recency_weeks": recency_w,
                        "frequency_before": freq.astype(np.int64),
                    }
                )
            )
        p_resp = np.where(treated, p_arm[np.maximum(arm, 0), np.arange(m)], p0)
        responded = rng.random(m) < p_resp
        # response orders: on one of the 14 days after the send day, never after drop-out
        r_idx = np.flatnonzero(responded)
        r_cust = members[r_idx]
        days = 1 + np.minimum(rng.geometric(0.3, r_idx.size) - 1, RESPONSE_WINDOW_DAYS - 1)
        base_day = (send // DAY_S) * DAY_S
        r_time = base_day + days * DAY_S + clock.time_of_day(rng, r_idx.size)
        r_time = np.minimum(r_time, end_s - 1)
        drop = dropout[r_cust]
        late = r_time > drop
        gap = np.maximum(drop[late] - send, 1)
        r_time[late] = send + 1 + np.floor(rng.random(late.sum()) * gap).astype(np.int64)
        order, prod, qty = cat.draw_lines(rng, r_cust, RESPONSE_EXTRA_LINES_MEAN, fav, qty_mu)
        amount = np.bincount(order, qty * cat.price[prod], minlength=r_idx.size)
        resp_amount = np.zeros(m)
        resp_amount[r_idx] = amount
        k_cust.append(r_cust)
        k_time.append(r_time)
        k_chan.append(np.full(r_idx.size, ORDER_CHANNELS.index(camp["redemption_channel"])))
        k_lines.append((order + n_k, prod, qty))
        n_k += r_idx.size
        # mailings make some treated customers opt out within three days
        t_idx = np.flatnonzero(treated)
        t_cust = members[t_idx]
        q = np.array([TRIGGERED_OPT_OUT[c] for c in CONTACT_CHANNELS])[contact[t_cust]]
        q = q * np.where(sleeping[t_cust], SLEEPING_DOG_OPT_OUT_FACTOR, 1.0)
        out = rng.random(t_idx.size) < q
        out_cust = t_cust[out]
        out_time = send + 1 + rng.integers(0, 3 * DAY_S, out_cust.size)
        earlier = (out_time < opt_out[out_cust]) & (out_time < end_s)
        opt_out[out_cust[earlier]] = out_time[earlier]
        reason[out_cust[earlier]] = too_many
        camp_rows.append(
            pd.DataFrame(
                {
                    "campaign_id": camp["campaign_id"],
                    "customer_id": members + 1,
                    "send_s": np.full(m, send, dtype=np.int64),
                    "channel_code": contact[members],
                    "treated": treated,
                    "responded": responded,
                    "response_amount": resp_amount,
                    "arm_code": arm,
                    "n_arms_before": sum(len(p["arms"]) for p in plan[:ci]),
                }
            )
        )
        hist_key = np.sort(np.concatenate([hist_key, r_cust * big + r_time]))

    # response orders
    k_cust = np.concatenate(k_cust)
    k_time = np.concatenate(k_time)
    k_chan = np.concatenate(k_chan)
    kl_order = np.concatenate([x[0] for x in k_lines])
    kl_prod = np.concatenate([x[1] for x in k_lines])
    kl_qty = np.concatenate([x[2] for x in k_lines])
    k_rank = np.empty(len(k_cust), np.int64)
    k_rank[np.lexsort((k_cust, k_time))] = np.arange(len(k_cust))

    # all purchase lines: organic orders (prefix O) then campaign responses (prefix K)
    n_o = len(o_cust)
    ord_cust = np.concatenate([o_cust, k_cust])
    ord_time = np.concatenate([o_time, k_time])
    ord_chan = np.concatenate([o_chan, k_chan])
    ord_prefix = np.concatenate([np.ones(n_o, np.int8), np.zeros(len(k_cust), np.int8)])
    ord_num = np.concatenate([np.arange(1, n_o + 1), k_rank + 1])
    line_order = np.concatenate([l_order, kl_order + n_o])
    line_prod = np.concatenate([l_prod, kl_prod])
    line_qty = np.concatenate([l_qty, kl_qty])

    # returns: per returned line a negative line in an R order some days later
    returned = rng.random(len(line_order)) < cat.return_rate[cat.cat[line_prod]]
    rl = np.flatnonzero(returned)
    src = line_order[rl]  # non-decreasing, as lines are stored order by order
    first = np.r_[True, src[1:] != src[:-1]][: src.size]
    r_orders, r_of_line = src[first], np.cumsum(first) - 1
    delay = RETURN_DELAY_DAYS[0] + rng.poisson(RETURN_DELAY_DAYS[1], r_orders.size)
    r_time = (ord_time[r_orders] // DAY_S + delay) * DAY_S + clock.time_of_day(rng, r_orders.size)
    r_qty = 1 + rng.binomial(line_qty[rl] - 1, 0.5)
    keep_order = r_time < end_s
    keep = keep_order[r_of_line]
    r_orders_kept = np.flatnonzero(keep_order)
    r_rank = np.full(r_orders.size, -1, np.int64)
    kept_sort = np.lexsort((r_orders[r_orders_kept], r_time[r_orders_kept]))
    r_rank[r_orders_kept[kept_sort]] = np.arange(r_orders_kept.size)
    rl, r_of_line, r_qty = rl[keep], r_of_line[keep], r_qty[keep]

    src_order = line_order[rl]
    all_cust = np.concatenate([ord_cust[line_order], ord_cust[src_order]])
    all_time = np.concatenate([ord_time[line_order], r_time[r_of_line]])
    all_prefix = np.concatenate([ord_prefix[line_order], np.full(len(rl), 2, np.int8)])
    all_num = np.concatenate([ord_num[line_order], r_rank[r_of_line] + 1])
    all_prod = np.concatenate([line_prod, line_prod[rl]])
    all_qty = np.concatenate([line_qty, -r_qty])
    all_chan = np.concatenate([ord_chan[line_order], ord_chan[src_order]])
    # order_id sorts as (prefix K < O < R, then number): one int64 key below the time
    within = (all_prefix.astype(np.int64) << 40) + (all_num << 8) + all_prod
    sort = np.lexsort((within, all_time))
    all_cust, all_time, all_prefix = all_cust[sort], all_time[sort], all_prefix[sort]
    all_num, all_prod, all_qty, all_chan = (
        all_num[sort],
        all_prod[sort],
        all_qty[sort],
        all_chan[sort],
    )

    counts = [len(k_cust), n_o, r_orders_kept.size]
    width = max(8, len(str(max(c + o for c, o in zip(counts, off.orders, strict=True)))))
    dictionary = pa.concat_arrays(
        [
            _numbered(p, np.arange(1, c + 1) + o, width)
            for p, c, o in zip("KOR", counts, off.orders, strict=True)
        ]
    )
    offsets = np.cumsum([0, *counts[:-1]])
    oid = pa.DictionaryArray.from_arrays(
        pa.array((offsets[all_prefix] + all_num - 1).astype(np.int32)), dictionary
    ).cast(pa.large_string())
    transactions = pd.DataFrame(
        {
            "customer_id": all_cust + 1 + off.customers,
            "order_id": pd.Series(oid, dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
            "order_date": _timestamps(start_ts, all_time),
            "amount": all_qty * cat.price[all_prod],
            "product_id": _strings(all_prod, cat.ids),
            "category": _strings(cat.cat[all_prod], cat.categories),
            "quantity": all_qty.astype(np.int64),
            "channel": _strings(all_chan, ORDER_CHANNELS),
            "region": _strings(region[all_cust], REGIONS),
        }
    )

    # customers (as known to the business) with fake personal data
    ids = np.arange(1, n + 1, dtype=np.int64) + off.customers
    id_text = pd.Series(ids).astype("str")
    reasons = (*OPT_OUT_REASONS, "too many messages")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": _timestamps(start_ts, signup),
            "age": age,
            "age_band": _strings(band, AGE_BANDS),
            "gender": _strings(gender, GENDERS),
            "region": _strings(region, REGIONS),
            "acquisition_channel": _strings(acq, ACQ_CHANNELS),
            "preferred_channel": _strings(contact, CONTACT_CHANNELS),
            "opt_in": consent & (opt_out == _NEVER),
            "opt_out_date": _timestamps(start_ts, opt_out),
            "opt_out_reason": _strings(np.maximum(reason, 0), reasons).where(reason >= 0),
            "name": "Customer " + id_text,
            "email": "c" + id_text + "@example.com",
            "phone": "+00 555 " + id_text.str.zfill(7),
        }
    )

    # campaigns table
    campaigns = pd.concat(camp_rows, ignore_index=True)
    arm_names = [a for p in plan for a in p["arms"]]
    arm_code = np.where(
        campaigns["arm_code"] >= 0,
        campaigns["arm_code"] + campaigns["n_arms_before"],
        len(arm_names),
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": campaigns["campaign_id"].astype("str"),
            "customer_id": campaigns["customer_id"].astype(np.int64) + off.customers,
            "sent_date": _timestamps(start_ts, campaigns["send_s"].to_numpy()),
            "channel": _strings(campaigns["channel_code"].to_numpy(), CONTACT_CHANNELS),
            "treated": campaigns["treated"].astype(bool),
            "responded": campaigns["responded"].astype(bool),
            "response_amount": campaigns["response_amount"].astype(np.float64),
            "arm": _strings(arm_code, [*arm_names, "control"]),
        }
    )

    # the truth: exact expected basket size and value for an ordinary order, by favourite category
    lines_c, value_c = cat.expected_basket(EXTRA_LINES_MEAN)
    order_value = (1 + qty_mu) * value_c[fav]
    line_price = value_c[fav] / lines_c[fav]
    alive_end = dropout == _NEVER
    exp_next = np.where(alive_end, -np.expm1(-lam * p_drop * 52.0) / p_drop, 0.0)
    truth_customers = pd.DataFrame(
        {
            "lambda_": lam,
            "lambda_multiplier": lam_mult[acq],
            "p_dropout": p_drop,
            "dropout_date": _timestamps(start_ts, dropout),
            "alive_at_end": alive_end,
            "quantity_mu": qty_mu,
            "expected_quantity": 1 + qty_mu,
            "expected_line_price": line_price,
            "expected_line_amount": (1 + qty_mu) * line_price,
            "expected_lines_per_order": lines_c[fav],
            "expected_order_value": order_value,
            "expected_purchases_next_52w": exp_next,
            "expected_spend_next_52w": exp_next * order_value,
            "favourite_category": _strings(fav, cat.categories),
            "p_web": shares[:, 0],
            "p_store": shares[:, 1],
            "p_app": shares[:, 2],
            "consent_at_signup": consent,
            "sleeping_dog": sleeping,
        },
        index=pd.Index(ids, name="customer_id"),
    )
    uplift = pd.concat(uplift_rows, ignore_index=True)
    uplift["campaign_id"] = uplift["campaign_id"].astype("str")
    uplift["arm"] = uplift["arm"].astype("str")
    uplift["customer_id"] = uplift["customer_id"].astype(np.int64) + off.customers
    uplift = uplift.sort_values(["campaign_id", "customer_id", "arm"], ignore_index=True)
    affinities = pd.DataFrame(
        {
            "antecedent": [cat.ids[a] for a, _, _ in cat.pairs],
            "consequent": [cat.ids[b] for _, b, _ in cat.pairs],
            "probability": [p for _, _, p in cat.pairs],
            "antecedent_name": [cat.names[a] for a, _, _ in cat.pairs],
            "consequent_name": [cat.names[b] for _, b, _ in cat.pairs],
        }
    ).astype({c: "str" for c in ("antecedent", "consequent", "antecedent_name", "consequent_name")})
    seasonality = pd.DataFrame(
        {
            "component": ["day_of_week"] * 7 + ["month"] * 12 + ["hour_of_day"] * 24,
            "key": np.r_[np.arange(7), np.arange(1, 13), np.arange(24)].astype(np.int64),
            "label": [*WEEKDAY_LABELS, *MONTH_LABELS, *(f"{h:02d}" for h in range(24))],
            "multiplier": np.r_[clock.weekday, clock.month, clock.hour],
        }
    ).astype({"component": "str", "label": "str"})
    campaign_truth = pd.DataFrame(
        {
            "campaign_id": [p["campaign_id"] for p in plan],
            "sent_date": _timestamps(start_ts, np.array([p["send_s"] for p in plan])),
            "arms": [",".join(p["arms"]) for p in plan],
            "n_arms": np.array([len(p["arms"]) for p in plan], dtype=np.int64),
            "audience_share": [p["audience_share"] for p in plan],
            "control_share": [p["control_share"] for p in plan],
            "redemption_channel": [p["redemption_channel"] for p in plan],
        }
    ).astype({"campaign_id": "str", "arms": "str", "redemption_channel": "str"})
    returns = pd.DataFrame(
        {"category": list(cat.categories), "return_rate": cat.return_rate.astype(float)}
    ).astype({"category": "str"})
    effects = pd.DataFrame(
        [
            ("lambda_", "acquisition_channel", c, float(m))
            for c, m in zip(ACQ_CHANNELS, lam_mult, strict=True)
        ]
        + [
            ("quantity_mu", "age_band", b, m)
            for b, m in zip(AGE_BANDS, QUANTITY_MULT_AGE, strict=True)
        ]
        + [
            ("quantity_mu", "region", r, m)
            for r, m in zip(REGIONS, QUANTITY_MULT_REGION, strict=True)
        ],
        columns=["parameter", "attribute", "level", "multiplier"],
    ).astype({"parameter": "str", "attribute": "str", "level": "str"})

    params = {
        "n_customers": n,
        "seed": int(seed),
        "start": start_ts.date().isoformat(),
        "end": end_ts.date().isoformat(),
        "time_unit": "week",
        **BGNBD,
        "acquisition_trend": ACQUISITION_TREND,
        "extra_lines_mean": EXTRA_LINES_MEAN,
        "response_extra_lines_mean": RESPONSE_EXTRA_LINES_MEAN,
        "favourite_category_weight": FAVOURITE_WEIGHT,
        "popularity_exponent": POPULARITY_EXPONENT,
        "quantity_mu_base": QUANTITY_MU_BASE,
        "quantity_mu_gamma_shape": QUANTITY_MU_SHAPE,
        "consent_rate": CONSENT_RATE,
        "opt_out_rate_per_year": OPT_OUT_RATE_PER_YEAR,
        "opt_out_reasons": OPT_OUT_REASONS,
        "triggered_opt_out_probability": TRIGGERED_OPT_OUT,
        "sleeping_dog_opt_out_factor": SLEEPING_DOG_OPT_OUT_FACTOR,
        "sleeping_dog_share": SLEEPING_DOG_SHARE,
        "response_window_days": RESPONSE_WINDOW_DAYS,
        "return_delay_days": {
            "minimum": RETURN_DELAY_DAYS[0],
            "poisson_mean": RETURN_DELAY_DAYS[1],
        },
        "return_rates": dict(zip(cat.categories, map(float, cat.return_rate), strict=True)),
        "response_baseline": RESPONSE_BASELINE,
        "uplift": UPLIFT,
        "sleeping_dog_uplift": SLEEPING_DOG_UPLIFT,
        "persuadable_peak_weeks": PERSUADABLE_PEAK_WEEKS,
        "persuadable_log_width": PERSUADABLE_LOG_WIDTH,
        "sure_thing_weeks": SURE_THING_WEEKS,
        "remote_regions": list(REMOTE_REGIONS),
        "seasonality": {
            "day_of_week": dict(zip(WEEKDAY_LABELS, map(float, clock.weekday), strict=True)),
            "month": dict(zip(MONTH_LABELS, map(float, clock.month), strict=True)),
            "hour_of_day": [float(x) for x in clock.hour],
        },
        "campaigns": [
            {
                "campaign_id": p["campaign_id"],
                "sent_date": (start_ts + pd.Timedelta(seconds=p["send_s"])).isoformat(),
                "arms": p["arms"],
                "audience_share": p["audience_share"],
                "control_share": p["control_share"],
                "redemption_channel": p["redemption_channel"],
            }
            for p in plan
        ],
        "affinities": [
            {"antecedent": cat.ids[a], "consequent": cat.ids[b], "probability": p}
            for a, b, p in cat.pairs
        ],
    }
    truth = {
        "customers": truth_customers,
        "uplift": uplift,
        "affinities": affinities,
        "seasonality": seasonality,
        "campaigns": campaign_truth,
        "returns": returns,
        "attribute_effects": effects,
    }
    return SimulatedRetailer(
        transactions=transactions,
        customers=customers,
        campaigns=campaigns,
        products=cat.frame(),
        truth=truth,
        params=params,
    )
