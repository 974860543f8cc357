"""Personal data: one rule for what it is, and what happens to it.

Every layer asks this module: loading (:mod:`crm_models.data.contract`, the out-of-core readers of
:mod:`crm_models.engine` and :mod:`crm_models.data.database`), the customer view
(:mod:`crm_models.features`) and everything shown or logged (:func:`check_no_personal_data`,
used by report tables and MLflow).

* **By name** (:func:`personal_column_kind`): a column name is normalised (accents, case,
  camelCase, spaces and punctuation), qualifier words (``customer``, ``primary``, ``work``,
  ``number``, ``line`` ...) are set aside, and what is left is compared with known spellings of
  personal fields in English and the common European languages.  Exact comparison keeps
  ``product_name``, ``email_opt_in`` or ``gift_card_amount`` out.
* **By value** (:func:`personal_value_kind`): a bounded, deterministic sample of a text column
  is checked for e-mail addresses, phone numbers, IBANs (mod-97), payment card numbers (Luhn)
  and IP addresses.
* **Birth dates** become age bands (:func:`age_band`), the simulator's vocabulary plus ``<18``.
* **Keyed pseudonyms** (:func:`pseudonym`) replace identifiers that are personal (customer ids
  that are e-mail addresses): HMAC-SHA256 with a per-installation secret key, so hashing
  guessed addresses does not re-identify anyone.

This module sits at the bottom of the package: it imports nothing from ``crm_models``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import time
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "AGE_BANDS",
    "AGE_EDGES",
    "KEY_ENV",
    "KINDS",
    "PersonalDataError",
    "age_band",
    "check_no_personal_data",
    "find_personal_columns",
    "key_path",
    "normalise_column",
    "personal_column_kind",
    "personal_value_kind",
    "pseudonym",
]

KINDS = (
    "name",
    "email",
    "phone",
    "address",
    "postcode",
    "birth_date",
    "iban",
    "card",
    "ip_address",
    "passport",
    "national_id",
)
# The simulator's bands (crm_models.data.simulate.AGE_BANDS) with one band below them.
AGE_BANDS = ("<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_EDGES = (18, 25, 35, 45, 55, 65)  # lowest age of each band after the first
MAX_AGE = 120  # older (or a birth date after the as-of date): no band

KEY_ENV = "CRM_MODELS_PSEUDONYM_KEY"
SAMPLE_SIZE = 2_000  # values looked at per column: the first half and an evenly spaced half
VALUE_SHARE = 0.10  # a column is personal when more than this share of its sample is
MAX_NAME = 40  # characters of a column name quoted in a message


class PersonalDataError(ValueError):
    """A table about to be shown or logged holds personal data."""


# --------------------------------------------------------------------------- names
def normalise_column(name: object) -> str:
    """``"Full Name"``, ``"full-name"``, ``"FullName"`` -> ``"full_name"``; accents dropped
    (``"Prénom"`` -> ``"prenom"``), ``ß`` -> ``ss``, anything not a letter or digit -> ``_``."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


# Words that say whose or which field it is, not what it holds.
_QUALIFIERS = frozenset(
    """
    customer customers cust client clients contact contacts person persons user users member
    members kunde kunden primary secondary main alt alternative other preferred default work
    home private personal business office billing shipping delivery mailing residential
    current previous old new raw original orig clean cleaned normalised normalized full
    complete completo completa value text str string field data info details number numbers no
    nr num nbr numero line lines digits of the de du des la le del di da van der den het
    """.split()
)

_FORMS_BY_KIND: dict[str, str] = {
    "name": """
        name names fullname firstname firstnames lastname lastnames surname surnames givenname
        givennames familyname middlename middlenames forename forenames maidenname nickname
        displayname username contactperson fname lname namefirst namelast cardholder
        cardholdername accountholder vorname vornamen nachname familienname kundenname nom
        nomfamille prenom prenoms nombre nombres nombrecompleto apellido apellidos
        primerapellido segundoapellido cognome nome nomecompleto sobrenome naam voornaam
        achternaam volledigenaam
    """,
    "email": """
        email emails emailaddress emailaddresses mail mailaddress emailid emailadresse
        mailadresse adresseemail adressemail courriel adressecourriel correo correoelectronico
        indirizzoemail emailadres mailadres
    """,
    "phone": """
        phone phones phonenumber telephone telephones tel telefon telefone telefono telefoon
        telefonnummer telefoonnummer rufnummer mobile mobilephone mobiles mobil mobiel
        mobiltelefon cell cellphone cellular handy handynummer fax telefax landline gsm msisdn
        portable
    """,
    "address": """
        address addresses addr adress adresse adres streetaddress street streetname strasse
        straat straatnaam rue calle direccion indirizzo endereco anschrift house housenumber
        houseno hausnummer huisnummer postaladdress apartment domicilio
    """,
    "postcode": """
        postcode postcodes postalcode zip zipcode zipcodes plz postleitzahl codepostal
        codigopostal postnummer eircode
    """,
    "birth_date": """
        birthdate birthdates dateofbirth datebirth dob birthday birthdays birth bday
        geburtsdatum geburtstag gebdatum datenaissance naissance fechanacimiento nacimiento
        fechanac datanascita nascita geboortedatum
    """,
    "iban": "iban ibans bankaccount kontonummer rekeningnummer",
    "card": """
        card cards cardnumber creditcard creditcards debitcard paymentcard cc kreditkarte
        kartennummer cartebancaire cartecredit tarjeta tarjetacredito cartacredito
    """,
    "ip_address": "ip ips ipaddress ipaddresses ipaddr ipv4 ipv6 remoteaddr remoteip",
    "passport": "passport passports reisepass passeport pasaporte passaporto paspoort",
    "national_id": """
        nationalid nationalidentifier ssn socialsecurity taxid taxidentification steuerid
        steueridentifikationsnummer steuernummer nationalinsurance nino personalausweis
        ausweisnummer idcard identitycard dni nie nif nir bsn burgerservicenummer
        codicefiscale personnummer sozialversicherungsnummer driverslicense driverlicense
        driverslicence drivinglicence drivinglicense
    """,
}
_FORMS = {form: kind for kind, text in _FORMS_BY_KIND.items() for form in text.split()}
# In the products table these are the product's name.
_PRODUCT_NAMES = frozenset({"name", "names", "nom", "nombre", "nome", "naam"})


def shorten(text: object, limit: int = MAX_NAME) -> str:
    """``text`` cut to ``limit`` characters (with "…"): what a message may quote of a value or
    a column name."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote_value(value: object) -> str:
    """A value as a problem message quotes it: e-mail addresses hidden, long text cut short."""
    if isinstance(value, str):
        if "@" in value:
            return "<e-mail address hidden>"
        return repr(shorten(value))
    if value is None or value is pd.NA or value is pd.NaT:
        return "(blank)"
    if isinstance(value, pd.Timestamp | dt.date):
        stamp = pd.Timestamp(value)
        return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)
    if isinstance(value, np.generic):
        value = value.item()  # 1e+308, not np.float64(1e+308)
    if isinstance(value, float):
        return (
            "(blank)"
            if np.isnan(value)
            else format(value, "g")
            if abs(value) >= 1e15
            else repr(value)
        )
    return shorten(str(value))


def personal_column_kind(name: object, table: str | None = None) -> str | None:
    """The kind of personal data a column's *name* says it holds (one of :data:`KINDS`), or None.

    ``table`` matters only for ``products``, whose ``name`` is a product's name.
    """
    tokens = [t for t in normalise_column(name).split("_") if t]
    kept = [t for t in tokens if t not in _QUALIFIERS and not t.isdigit()]
    for compact in ("".join(tokens), "".join(kept)):
        for form in (compact, compact.rstrip("0123456789")):
            kind = _FORMS.get(form)
            if kind is not None:
                if table == "products" and form in _PRODUCT_NAMES:
                    return None
                return kind
    return None


# --------------------------------------------------------------------------- values
_EMAIL = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_PHONE = r"\+?\(?\d[\d ()./-]*\d"
_PHONE_IN_TEXT = r"(?<![\w+])\+\d(?:[ ()./-]{0,2}\d){7,14}(?!\d)"
_SEPARATORS = r"[ ()./-]+"
_DATE_PART = (
    r"(?:\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}[-/.]\d{4})"
)
_DATES = rf"{_DATE_PART}(?:\s*[-/]\s*{_DATE_PART})?"
_NUMBER = r"[+-]?\d{1,3}(?:[.,]\d{3})+(?:[.,]\d+)?|[+-]?\d+[.,]\d{1,2}"
_IPV4 = r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})"
_IPV6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){3,7}"
_IBAN = r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}"
_CARD = r"\d(?:[ -]?\d){12,18}"


def is_text(series: pd.Series) -> bool:
    """Text, object or categorical dtype (decided from the dtype alone, without a scan)."""
    dtype = series.dtype
    return isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)


def _sample(series: pd.Series, size: int = SAMPLE_SIZE) -> pd.Series:
    """Up to ``size`` non-missing values, as stripped text: the first half and an evenly
    spaced half (deterministic; only a column with gaps is scanned to find its values)."""
    n, half = len(series), size // 2

    def pick(positions: np.ndarray, pool: pd.Series) -> pd.Series:
        return pool.iloc[np.unique(positions)]

    if n <= size:
        values = series.dropna()
    else:
        spaced = np.linspace(0, n - 1, half).astype(np.int64)
        values = pick(np.concatenate([np.arange(half), spaced]), series)
        if values.isna().any():
            present = np.flatnonzero(series.notna().to_numpy())
            spaced = present[np.linspace(0, len(present) - 1, half).astype(np.int64)]
            values = (
                pick(np.concatenate([present[:half], spaced]), series)
                if len(present)
                else values.dropna()
            )
    values = values.dropna()
    if isinstance(values.dtype, pd.CategoricalDtype):  # only the sampled categories
        values = pd.Series(values.cat.categories.take(values.cat.codes.to_numpy()))
    text = values.astype(object).astype("string").str.strip()
    return text[text.notna() & (text != "")].reset_index(drop=True)


def _char_codes(text: pd.Series, width: int) -> np.ndarray:
    """An ``(n, width)`` array of Unicode code points, zero-padded on the right."""
    arr = np.asarray(text.to_numpy(dtype=object, na_value=""), dtype=f"U{width}")
    return arr.view(np.uint32).reshape(len(arr), width).astype(np.int64)


def _iban_valid(text: pd.Series) -> np.ndarray:
    """Mod-97 check of IBAN-shaped text (country, check digits, account moved to the end)."""
    if text.empty:
        return np.zeros(0, dtype=bool)
    codes = _char_codes(text.str[4:] + text.str[:4], 34)
    rest = np.zeros(len(codes), dtype=np.int64)
    for j in range(codes.shape[1]):  # over character positions, vectorised over values
        c = codes[:, j]
        digit, letter = (c >= 48) & (c <= 57), (c >= 65) & (c <= 90)
        rest = np.where(digit, (rest * 10 + c - 48) % 97, rest)
        rest = np.where(letter, (rest * 100 + c - 55) % 97, rest)
    return rest == 1


def _luhn_valid(digits: pd.Series) -> np.ndarray:
    """Luhn check of digit strings (13-19 digits)."""
    if digits.empty:
        return np.zeros(0, dtype=bool)
    codes = _char_codes(digits, 19)
    values = np.where(codes > 0, codes - 48, 0)
    lengths = (codes > 0).sum(axis=1)
    from_right = lengths[:, None] - 1 - np.arange(codes.shape[1])[None, :]
    doubled = np.where((from_right >= 0) & (from_right % 2 == 1), values * 2, values)
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return doubled.sum(axis=1) % 10 == 0


def _value_hits(text: pd.Series, card_only: bool = False) -> dict[str, int]:
    """How many of the sampled values look like each kind (only ``"card"`` with
    ``card_only``).  Each distinct value is looked at once and counts as often as it occurs."""
    counts = text.value_counts(sort=False)
    text, weight = pd.Series(counts.index, dtype=text.dtype), counts.to_numpy()

    def total(mask: pd.Series | np.ndarray) -> int:
        return int(weight[np.asarray(mask, dtype=bool)].sum())

    shaped = text.str.fullmatch(_CARD).to_numpy(dtype=bool)
    card_shaped = text[shaped]
    card_ok = _luhn_valid(card_shaped.str.replace(r"[ -]", "", regex=True))
    card_hits = int(weight[shaped][card_ok].sum())
    # random long ids pass Luhn one time in ten; a column of card numbers nearly always does
    hits = {"card": card_hits if card_hits >= 0.5 * weight[shaped].sum() else 0}
    if card_only:
        return hits
    hits["email"] = total(text.str.contains(_EMAIL, regex=True))
    compact = text.str.replace(" ", "", regex=False).str.upper()
    is_iban = compact.str.fullmatch(_IBAN).to_numpy(dtype=bool)
    iban_ok = np.zeros(len(text), dtype=bool)
    iban_ok[is_iban] = _iban_valid(compact[is_iban])
    hits["iban"] = total(iban_ok)
    octets = text.str.extract(rf"^{_IPV4}$").astype("float64")
    ipv4 = octets.notna().all(axis=1) & (octets <= 255).all(axis=1)
    ipv6 = text.str.fullmatch(_IPV6) & (
        text.str.contains("::", regex=False) | (text.str.count(":") == 7)
    )
    hits["ip_address"] = total(ipv4) + total(ipv6.fillna(False))
    shaped = text.str.fullmatch(_PHONE) & ~text.str.contains(r"[ ()./-]{3,}", regex=True)
    digits = text.str.count(r"\d")
    runs = text.str.count(_SEPARATORS)
    phone_like = (
        text.str.startswith("+")
        | text.str.startswith("(")
        | text.str.startswith("00")
        | (runs >= 2)
    ) | (text.str.startswith("0") & (runs >= 1))
    not_other = ~(
        text.str.fullmatch(_DATES) | text.str.fullmatch(_NUMBER) | text.str.fullmatch(_IPV4)
    )
    phone = shaped & phone_like & not_other & (digits >= 8) & (digits <= 15)
    # an international number written inside free text ("call me on +44 20 7946 0001")
    in_text = text.str.contains(_PHONE_IN_TEXT, regex=True)
    hits["phone"] = total(phone.fillna(False) | in_text.fillna(False))
    return hits


def personal_value_kind(series: pd.Series) -> str | None:
    """``"email"``, ``"iban"``, ``"card"``, ``"ip_address"`` or ``"phone"`` when more than
    :data:`VALUE_SHARE` of a sample of a text column looks like one; None otherwise.

    A phone number has 8-15 digits with a ``+``, parentheses or separators (a run of digits
    alone, a date or a formatted amount is not one); an IBAN passes the mod-97 check, a card
    number (13-19 digits) the Luhn check.  Integer columns are checked for card numbers only
    (a file reader turns a column of them into integers); other columns are not looked at.
    Looks at :data:`SAMPLE_SIZE` values at most.
    """
    integer = pd.api.types.is_integer_dtype(series.dtype)
    if not (integer or is_text(series)):
        return None
    text = _sample(series)
    if text.empty:
        return None
    hits = _value_hits(text, card_only=integer)
    for kind in ("card",) if integer else ("email", "iban", "card", "ip_address", "phone"):
        if hits[kind] > VALUE_SHARE * len(text):
            return kind
    return None


def find_personal_columns(
    frame: pd.DataFrame, table: str | None = None, protected: Iterable[str] = ()
) -> dict[str, str]:
    """``{column: kind}`` of the columns holding personal data: every column by its name, and
    the text (and integer) columns not in ``protected`` (the table's contract columns, e.g. a
    ``customer_id`` of e-mail addresses, which is pseudonymised, not dropped) also by their
    values (:func:`personal_value_kind`)."""
    protected = {str(c) for c in protected}
    found: dict[str, str] = {}
    for i, col in enumerate(frame.columns):
        kind = personal_column_kind(col, table)
        if kind is None and str(col) not in protected:
            kind = personal_value_kind(frame.iloc[:, i])
        if kind is not None:
            found[col] = kind
    return found


def check_no_personal_data(df: pd.DataFrame | pd.Series, what: str = "table") -> None:
    """Raise :class:`PersonalDataError` if a column or index level of a table about to be
    shown or logged is named like personal data, or its text values look like e-mail
    addresses, phone numbers, IBANs, card numbers or IP addresses."""
    if isinstance(df, pd.Series):
        df = df.to_frame()
    bad: dict[str, str] = {}
    levels = []
    if not isinstance(df.index, pd.RangeIndex):
        levels = [(name, df.index.get_level_values(i)) for i, name in enumerate(df.index.names)]
    columns = [(col, df.iloc[:, i]) for i, col in enumerate(df.columns)]
    for label, values in [*columns, *levels]:
        kind = personal_column_kind(label) if label is not None else None
        if kind is None:
            kind = personal_value_kind(pd.Series(values))
            kind = f"{kind} values" if kind else None
        if kind is not None:
            bad[str(label)] = kind
    if bad:
        listed = ", ".join(f"{shorten(c)!r} ({k})" for c, k in bad.items())
        raise PersonalDataError(
            f"{what} refused: column(s) {listed} look like personal data (names, e-mails, "
            "phones, addresses, birth dates, account or card numbers); drop them before "
            "logging or showing the table"
        )


# --------------------------------------------------------------------------- birth dates
def age_band(birth_dates: pd.Series, as_of: pd.Timestamp | str) -> pd.Series:
    """Age bands (:data:`AGE_BANDS`) of people born on ``birth_dates`` at ``as_of``; missing
    for a missing or unparseable date, a date after ``as_of`` or an age over :data:`MAX_AGE`."""
    as_of = pd.Timestamp(as_of)
    born = birth_dates
    if not pd.api.types.is_datetime64_any_dtype(born):
        born = pd.to_datetime(born, errors="coerce", format="mixed")
    if getattr(born.dt, "tz", None) is not None:
        born = born.dt.tz_localize(None)
    later_in_year = (born.dt.month > as_of.month) | (
        (born.dt.month == as_of.month) & (born.dt.day > as_of.day)
    )
    age = (as_of.year - born.dt.year - later_in_year.astype("float64")).to_numpy(
        dtype="float64", na_value=np.nan
    )
    ok = np.isfinite(age) & (age >= 0) & (age <= MAX_AGE)
    codes = np.searchsorted(np.asarray(AGE_EDGES), np.where(ok, age, 0), side="right")
    labels = np.asarray(AGE_BANDS, dtype=object)[codes]
    labels[~ok] = np.nan
    return pd.Series(labels, index=birth_dates.index, name="age_band")


# --------------------------------------------------------------------------- pseudonyms
def key_path() -> Path:
    """Where the installation's pseudonym key lives: ``$XDG_CONFIG_HOME/crm-models/pseudonym.key``
    (``~/.config/...`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "crm-models" / "pseudonym.key"


def _read_key(path: Path) -> bytes:
    for _ in range(50):  # a process creating it with O_EXCL may not have written it yet
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key.encode("utf-8")
        time.sleep(0.02)
    raise PersonalDataError(f"the pseudonym key file {path} is empty; delete it or set {KEY_ENV}")


def _create_key(path: Path) -> None:
    """Write a new random key to ``path`` (mode 0600, folder 0700) unless one exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pseudonym-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic: fails if another process created it first
        except FileExistsError:
            pass
        except OSError:  # no hard links here: exclusive create, then write
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(Path(tmp).read_text(encoding="utf-8"))
    finally:
        os.unlink(tmp)


@lru_cache(maxsize=8)
def _key(env_value: str | None, path: str) -> bytes:
    if env_value:
        return env_value.encode("utf-8")
    file = Path(path)
    if not file.exists():
        try:
            _create_key(file)
        except OSError as exc:
            raise PersonalDataError(
                f"cannot create the pseudonym key {file} ({exc.strerror or exc}); "
                f"set {KEY_ENV} to a secret text instead"
            ) from None
    return _read_key(file)


def pseudonym(values: pd.Series) -> pd.Series:
    """``"h"`` + 16 hex digits of HMAC-SHA256(key, trimmed lower-case value); missing stays
    missing.  The key is ``$CRM_MODELS_PSEUDONYM_KEY`` or the installation's key file
    (:func:`key_path`, created on first use), so pseudonyms are stable on one installation and
    cannot be recomputed from guessed values without the key.  Each distinct value is hashed
    once."""
    key = _key(os.environ.get(KEY_ENV) or None, str(key_path()))
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    hashed = np.array(
        [
            "h"
            + hmac.new(key, str(v).strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()[:16]
            for v in uniques
        ]
        + [np.nan],
        dtype=object,
    )
    out = hashed[np.where(codes < 0, len(uniques), codes)]
    return pd.Series(out, index=values.index, name=values.name)
