"""generate_company: a deterministic, realistic Lucca v3 directory of any size."""

from __future__ import annotations

import functools
import random
from datetime import date, datetime, timedelta
from typing import Any, Final

import attrs

from lucca_sync.testing._users import (
    DEFAULT_BASE_URL,
    SKIP_FLAG,
    FlagStyle,
    ManagerKey,
    ModifiedKey,
    ascii_slug,
    flag_entry,
    paris_today,
)

__all__ = ["generate_company"]

_FIRST_NAMES: Final = (
    "Zoé", "Hélène", "Jean-Édouard", "Gaëlle", "Jérôme", "Anaïs", "Marie-Thérèse", "Françoise",
    "Loïc", "Noémie", "Raphaël", "Benoît", "Éloïse", "Chloé", "Agnès", "Cédric", "Léa", "Mathéo",
    "Inès", "Yannick", "Aurélie", "Théo", "Maëlys", "Pierre-Alexandre", "Anne-Sophie", "Joël",
    "Clément", "Séverine", "Camille", "Thomas", "Sarah", "Mohamed", "Fatoumata", "Céline",
    "Émilie", "Hugo", "Jean", "Océane", "Stéphane", "Lucas", "Amélie", "Karim", "Aïcha", "Bruno",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Le Gall", "N'Diaye", "Lefèvre", "Dupont", "Martin", "Bernard", "Moreau", "Girard",
    "Rousseau", "Leroy", "Gaudin-Pérez", "Da Silva", "Nguyen", "Benali", "Müller", "Öztürk",
    "D'Almeida", "Le Goff", "Boulanger", "Fontaine", "Chevalier", "Lambert", "Faure", "Mercier",
    "Blanc", "Garnier", "Dubois-Maréchal", "Ménard", "Brunet", "Rémy", "Kowalski", "Haddad",
    "Lemaître", "Perrin", "Caron", "Bouvier-Noël", "Collin", "Meyer", "Diallo", "Giraud",
)  # fmt: skip
_DEPARTMENTS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (10, "Direction générale", ("Président-directeur général", "Assistante de direction")),
    (11, "Ressources humaines", ("Chargée de recrutement", "Responsable RH", "Gestionnaire paie")),
    (12, "Finance", ("Contrôleur de gestion", "Comptable", "Directrice financière")),
    (13, "Ventes", ("Commercial terrain", "Account manager", "Responsable grands comptes")),
    (14, "Marketing", ("Chef de produit", "Chargé de communication", "Growth marketer")),
    (15, "R&D", ("Développeur", "Développeuse senior", "Architecte logiciel", "Data scientist")),
    (16, "Support client", ("Chargé de support", "Responsable support")),
    (17, "Opérations", ("Responsable logistique", "Acheteuse", "Technicien de maintenance")),
)  # fmt: skip
_ESTABLISHMENTS: Final = ((1, "Acme Paris"), (2, "Acme Lyon"), (3, "Acme Nantes"))

# Shares of the population (reference numbers for realistic tests and benchmarks).
_SKIP_SHARE: Final = 0.02
_LEAVER_SHARE: Final = 0.05
_FUTURE_SHARE: Final = 0.03
_NULL_MAIL_SHARE: Final = 0.01
_FIRST_ID: Final = 416
_DEPT: Final = "/api/v3/departments/"
_EST: Final = "/api/v3/legalentities/"


@functools.lru_cache(maxsize=32768)
def _date(value: date) -> str:
    return f"{value.isoformat()}T00:00:00"


@attrs.frozen
class _Population:
    """Who is special in a generated company (indexes into the user list)."""

    manager_pool: int
    leavers: frozenset[int]
    future: frozenset[int]
    skipped: frozenset[int]
    null_mails: frozenset[int]

    @classmethod
    def draw(cls, rng: random.Random, n: int) -> _Population:
        # Managers are drawn among the first sixth; leavers and future hires come from the
        # rest, so they manage nobody and the CEO (index 0) is always active.
        manager_pool = max(1, n // 6)
        others = range(manager_pool, n) if n > 1 else range(0)
        special_count = min(len(others), round(n * (_LEAVER_SHARE + _FUTURE_SHARE)))
        special = rng.sample(others, special_count)
        leaver_count = min(special_count, round(n * _LEAVER_SHARE))
        not_ceo = range(1, n) if n > 1 else range(0)

        def share(rate: float) -> frozenset[int]:
            return frozenset(rng.sample(not_ceo, min(len(not_ceo), round(n * rate))))

        return cls(
            manager_pool=manager_pool,
            leavers=frozenset(special[:leaver_count]),
            future=frozenset(special[leaver_count:]),
            skipped=share(_SKIP_SHARE),
            null_mails=share(_NULL_MAIL_SHARE),
        )


class _Builder:
    """Builds the users one by one; keeps what later users refer to (manager ids, names)."""

    def __init__(self, rng: random.Random, today: date, options: _Options) -> None:
        self.rng = rng
        self.today = today
        self.options = options
        self.ids: list[int] = []
        self.names: list[str] = []
        self.locals: set[str] = set()
        self.next_id = _FIRST_ID
        self.value_id = 70000
        self.epoch = today - timedelta(days=20 * 365)
        self.slugs = {name: ascii_slug(name) for name in (*_FIRST_NAMES, *_LAST_NAMES)}

    def contract(self, index: int, population: _Population) -> tuple[date, date | None]:
        rng, today = self.rng, self.today
        start = self.epoch + timedelta(days=int(rng.random() * (20 * 365 - 30)))
        if index in population.leavers:
            end = today - timedelta(days=1 + int(rng.random() * 700))
            return min(start, end - timedelta(days=30 + int(rng.random() * 2000))), end
        if index in population.future:
            return today + timedelta(days=1 + int(rng.random() * 90)), None
        if rng.random() < 0.02:  # a fixed-term contract ending later: still active
            return start, today + timedelta(days=int(rng.random() * 365))
        return start, None

    def modified(self, start: date) -> str:
        # Last change between the contract start (a day ago for future hires) and today.
        changed = min(start, self.today - timedelta(days=1))
        span = max(1, (self.today - changed).days - 1) * 86400
        stamp = datetime(changed.year, changed.month, changed.day, 8) + timedelta(
            seconds=int(self.rng.random() * span), milliseconds=int(self.rng.random() * 1000)
        )
        return stamp.isoformat(timespec="milliseconds")

    def user(self, index: int, population: _Population) -> dict[str, object]:
        rng, options, base_url = self.rng, self.options, self.options.base_url
        user_id = self.next_id
        self.next_id += 1 + int(rng.random() * 3)  # ids with gaps, like a real tenant
        random_ = rng.random  # rng.choice costs three times more; this runs 100k times
        first = _FIRST_NAMES[int(random_() * len(_FIRST_NAMES))]
        last = _LAST_NAMES[int(random_() * len(_LAST_NAMES))]
        local = f"{self.slugs[first]}.{self.slugs[last]}"
        if local in self.locals:
            local = f"{local}{index}"
        self.locals.add(local)
        manager: dict[str, object] | None = None
        if index == 0:
            dept_id, dept_name, titles = _DEPARTMENTS[0]
            title = titles[0]
        else:
            dept_id, dept_name, titles = _DEPARTMENTS[1 + int(random_() * 7)]
            title = titles[int(random_() * len(titles))]
            boss = int(random_() * min(index, population.manager_pool))
            manager = {
                "id": self.ids[boss],
                "name": self.names[boss],
                "url": f"{base_url}/api/v3/users/{self.ids[boss]}",
            }
        est_id, est_name = options.establishments[int(random_() * len(options.establishments))]
        start, end = self.contract(index, population)
        extended: dict[str, object] = {}
        if index in population.skipped:
            self.value_id += 1
            extended[options.flag_code] = flag_entry(True, options.flag_style, self.value_id)
        if random_() < 0.3:
            self.value_id += 1
            extended["e_cost_center"] = {"id": self.value_id, "value": f"CC-{dept_id}{est_id}"}
        name = f"{first} {last}"
        self.ids.append(user_id)
        self.names.append(name)
        birth = date(1960 + int(random_() * 42), 1 + int(random_() * 12), 1 + index % 28)
        return {
            "id": user_id,
            "name": name,
            "url": f"{base_url}/api/v3/users/{user_id}",
            "displayName": f"{last} {first}",
            "firstName": first,
            "lastName": last,
            "mail": None if index in population.null_mails else f"{local}@acme.example",
            "login": local,
            "employeeNumber": f"{index + 1:05d}",
            "jobTitle": title,
            "dtContractStart": _date(start),
            "dtContractEnd": None if end is None else _date(end),
            "birthDate": _date(birth),
            options.modified_key: self.modified(start),
            "manager": manager,
            options.manager_key: None if manager is None else manager["id"],
            "department": {"id": dept_id, "name": dept_name, "url": f"{base_url}{_DEPT}{dept_id}"},
            "departmentId": dept_id,
            "legalEntity": {"id": est_id, "name": est_name, "url": f"{base_url}{_EST}{est_id}"},
            "legalEntityId": est_id,
            "extendedData": extended,
        }


@attrs.frozen
class _Options:
    base_url: str
    manager_key: ManagerKey
    modified_key: ModifiedKey
    flag_style: FlagStyle
    flag_code: str
    establishments: tuple[tuple[int, str], ...]


def generate_company(
    n: int,
    *,
    seed: int = 0,
    today: date | None = None,
    base_url: str = DEFAULT_BASE_URL,
    manager_key: ManagerKey = "managerId",
    modified_key: ModifiedKey = "modifiedAt",
    flag_style: FlagStyle = "object-bool",
    flag_code: str = SKIP_FLAG,
) -> list[dict[str, Any]]:
    """A realistic company of ``n`` Lucca v3 users; the same arguments give the same users.

    The company has a CEO (the first user, no manager) at the top of a manager tree (nobody
    manages themselves, no cycles, managers listed before their reports), 8 departments, 3
    establishments (``legalEntity``; 2 below 50 people), French names with accents, hyphens
    and apostrophes, about 1% of ``null`` e-mails, and unique ids, e-mails, logins and employee
    numbers. About 2% have the skip flag ticked, 5% are leavers (``dtContractEnd`` before
    ``today``) and 3% future hires (``dtContractStart`` after ``today``); leavers and future
    hires manage nobody. A few active employees have a fixed-term contract ending later. About
    30% carry another custom field, ``e_cost_center``.

    Args:
        n: number of users (0 or more).
        seed: random seed; change it for another company of the same shape.
        today: the reference date for leavers and future hires; default today in Europe/Paris.
        base_url: the tenant URL used in ``url`` fields.
        manager_key: flat manager key, ``"managerId"`` or ``"managerID"``.
        modified_key: ``"modifiedAt"`` or ``"modifiedOn"``.
        flag_style: how ticked skip flags are written (see :func:`make_lucca_user`).
        flag_code: the skip flag's custom-field code.

    Returns:
        A list of new dicts, managers before their reports, in increasing id order.

    Raises:
        ValueError: ``n`` is negative.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    options = _Options(
        base_url=base_url,
        manager_key=manager_key,
        modified_key=modified_key,
        flag_style=flag_style,
        flag_code=flag_code,
        establishments=_ESTABLISHMENTS if n >= 50 else _ESTABLISHMENTS[:2],
    )
    population = _Population.draw(rng, n)
    builder = _Builder(rng, today if today is not None else paris_today(), options)
    return [builder.user(index, population) for index in range(n)]
