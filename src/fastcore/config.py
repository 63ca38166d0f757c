"""Configuration: the embedded default, a TOML file, or a table merged over it.

    from fastcore.config import load
    config = load()                         # the embedded default
    config = load("fastcore.toml")          # a file, merged over the default
    config = load({"mode": "worked"})

An invalid configuration raises ConfigError naming the offending entry;
nothing is half-loaded.
"""

from __future__ import annotations

import copy
import os
import string
import tomllib
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Annotated, Any, Literal

import msgspec

from fastcore.errors import ConfigError

PX_DIGITS = 8                # as fastcore/_types.pxd
QTY_DIGITS = 4


class EngineConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    comp_id: str = "FASTCORE"
    exec_id_prefix: str = ""
    order_id_offset: Annotated[int, msgspec.Meta(ge=0, le=1 << 62)] = 0   # OrderIDs from it + 1
    timestamp_precision: Literal[0, 3, 6, 9] = 3
    # orders the engine has room for from its start: the order table, its
    # ClOrdID index, the routes and the fills are sized for them, so no
    # doubling (a copy of everything so far: 15 ms at 65k orders) stalls
    # the flow before then. Memory is taken as it is used; a larger reserve
    # costs a fresh engine more first-touch page faults (its ClOrdID hash
    # table is 8 bytes a reserved order, written at random), so size it for a
    # day's orders rather than for a year's.
    reserve_orders: Annotated[int, msgspec.Meta(ge=16, le=1 << 30)] = 1 << 17


class Gateway(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where orders are routed. An ``exchange`` gateway trades its
    instruments; a ``staging`` gateway (TT's Synthetic SE) holds staged
    (care) orders until a trader works them in child orders."""
    name: str
    kind: Literal["exchange", "staging"] = "exchange"


class Credential(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A user's credentials on one gateway, each "Member/Group/Trader": the
    TT ``routing`` credential and the ``exchange`` credential it maps to
    (the same for an exchange trader, e.g. TTORDAB/001/002 → ABC/ABC/ABC for
    a TTORD user). ``account``: the customer-default account of the
    gateway, which child orders of staged orders always take."""
    routing: str
    exchange: str = ""                     # default: the routing credential
    account: str = ""


class User(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A user of the engine; ``firm`` groups users for drop copies and is
    the company of its secondary account names.

    ``credentials``: gateway name → Credential. Users whose routing
    credentials share Member and Group on a gateway share an order book
    there; a user with no credentials on a gateway trades there alone.
    ``staged_order_creation``: may submit staged orders;
    ``staged_order_management``: may claim, re-stage and work them.
    ``secondary_accounts``: a FIX client from outside whose Account (1) is
    its own: every order is mapped through ``[secondary]`` to a TT account
    or refused; ``wildcard_accounts``: one ``CompanyUser*`` entry covers
    all its accounts. ``execution_source``: the execution source code
    (1031) of its flow, e.g. "D" for an exchange's own screen or "H" for
    a premium algo provider ("": none; see ExecutionSourceConfig)."""
    name: str
    firm: str = ""
    credentials: dict[str, Credential] = {}
    staged_order_creation: bool = False
    staged_order_management: bool = False
    secondary_accounts: bool = False
    wildcard_accounts: bool = False
    execution_source: str = ""


class Account(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An account (1) orders may be booked to."""
    name: str


class OrderProfile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An order profile (TT's Order Tag Defaults): ``name`` goes out as
    TTCustomerName (18218) on the orders it applies to;
    ``execution_source``: the code (1031) of its orders ("": none)."""
    name: str
    execution_source: str = ""


class SecondaryAccount(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A client's account defined outside: ``name`` (as in SecondaryAccount
    (18219), or made by the rule; ``CompanyUser*`` for all of a wild-card
    user's accounts) → the TT ``account`` its orders are booked to, and
    the order ``profile`` they take ("": none)."""
    name: str
    account: str
    profile: str = ""


class SecondaryConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Secondary accounts (seed 001). ``rule`` makes the name of an order
    without SecondaryAccount (18219) from its user's ``{company}`` (firm),
    ``{user}`` and ``{account}`` (its Account (1)); a wild-card user's is
    the rule with ``{account}`` replaced by "*"."""
    rule: str = "{company}{user}{account}"
    accounts: tuple[SecondaryAccount, ...] = ()


EXECUTION_SOURCES = "WHCGDY"
"""FIA execution source codes (1031 with 1032=2), highest precedence first:
W desk (high touch), H premium algo provider, C vendor platform, G
sponsored access, D other, Y electronic (the default)."""


class ExecutionSourceConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The FIA schema a firm uses: the ``simple`` model sends W or Y only
    (C, G, H and D become Y), the ``complex`` model all six. ``firms``:
    a firm's own model, over ``model``."""
    model: Literal["simple", "complex"] = "simple"
    firms: dict[str, Literal["simple", "complex"]] = {}


class AuditConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The audit trail (seed 003): ``enabled`` keeps the records; the
    server appends them to ``path`` (default: ``audit.trail`` in
    ``server.store``), which is never rewritten."""
    enabled: bool = True
    path: str = ""


class JournalConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The server's write-ahead journal and snapshots (``fastcore.journal``,
    ``fastcore.snapshot``): every input the engine takes is on file before
    any of its effects are sent, and a restart recovers the state from the
    latest snapshot and the records after it.

    ``path``: the directory (default: ``journal`` in ``server.store``).
    ``fsync``: ``none`` (a crash of the process loses nothing; one of the
    machine may lose the last batches), ``batch`` (every batch is on the disk
    before its messages are sent: an acknowledged order survives a power
    cut) or ``always`` (each input is on the disk before the engine takes
    it). ``segment_size``: bytes per journal file. ``snapshot_every``:
    inputs between two snapshots (0: at a clean stop only); the last
    ``keep_snapshots`` are kept with the journal files recovery may need."""
    enabled: bool = True
    path: str = ""
    fsync: Literal["none", "batch", "always"] = "none"
    segment_size: Annotated[int, msgspec.Meta(ge=4096)] = 64 << 20
    snapshot_every: Annotated[int, msgspec.Meta(ge=0)] = 100_000
    keep_snapshots: Annotated[int, msgspec.Meta(ge=1)] = 2


class ClusterConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Scale-out (``fastcore.cluster``), off unless ``enabled``: the
    instruments split into ``partitions`` (a list of lists of symbols: each
    instrument in exactly one), each partition's inputs sequenced and
    replicated on NATS JetStream (a stream of ``replicas`` copies) and
    worked by its own engine process, with a hot standby. ``servers``: the
    NATS client URLs (empty: those ``fastcore cluster`` starts, three nodes
    from ``nats_port``, storing in ``nats_store``, default ``nats`` in
    ``server.store``). ``name``: the prefix of the streams, subjects and
    buckets. ``lease``: seconds a primary engine holds its partition without
    renewing it; its standby takes over after that. ``snapshot_every``: log
    entries between two snapshots of a partition's engine. ``max_entry``:
    bytes of inputs the gateway puts in one log entry."""
    enabled: bool = False
    partitions: tuple[tuple[str, ...], ...] = ()
    servers: tuple[str, ...] = ()
    name: str = "fastcore"
    replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 3
    lease: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    snapshot_every: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    max_entry: Annotated[int, msgspec.Meta(ge=1024, le=1 << 20)] = 256 << 10
    nats_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 4222
    nats_store: str = ""


Number = int | float | str
"""A decimal in the file: 0.25, "0.015625" or 1 (read through its decimal text)."""


class Instrument(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An instrument and the rules of its book (auto mode): prices a multiple
    of ``tick``, quantities of ``lot``; ``min_qty``/``max_qty`` per order (0:
    none); a limit price within ``band`` of ``ref_price`` (band 0: none)."""
    symbol: str
    gateway: str = ""                      # default: the first exchange gateway
    tick: Number = "0.01"
    lot: Number = 1
    min_qty: Number = 0
    max_qty: Number = 0
    band: Number = 0
    ref_price: Number = 0


STP_MODES = ("none", "cancel_resting", "cancel_incoming", "cancel_both")


class MatchingConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How the books of auto mode behave. ``when_halted``: a new order during a
    halt is rejected, or queued until the halt ends. ``self_trade``: per
    Account (1), what happens when an incoming order would trade with a
    resting one of the same account ("*": every other account; an order
    without an Account counts as its user's)."""
    when_halted: Literal["reject", "queue"] = "reject"
    self_trade: dict[str, str] = {}        # account → one of STP_MODES


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``fastcore serve``: where it listens and how its FIX sessions behave.
    ``store``: the directory of the session stores (sequence numbers and
    sent messages). ``sending_time_tolerance``: seconds a SendingTime (52)
    may differ from the server's clock (0: no check). ``logon_timeout``:
    seconds a new connection has to send its Logon. ``settings``: a
    QuickFIX-style session settings file whose sessions replace ``sessions``.
    The other fields bound what one client may do to the server (hostile or
    broken input): see each."""
    host: str = "127.0.0.1"
    fix_port: int = 9878
    msgspec_port: int = 9879
    store: str = "fastcore-store"
    sending_time_tolerance: int = 120
    logon_timeout: int = 10
    max_body_length: int = 65536           # BodyLength (9) above it: the message is dropped
    stalled_message_timeout: int = 30      # s a message may take to arrive whole, else Logout
    max_message_rate: int = 200_000        # messages per second per session (burst: as many;
                                           # 0: no limit); above it each gets a Reject
    max_throttled: int = 0                 # throttled messages in one flood before the Logout
                                           # (0: max_message_rate, a second's worth)
    logon_failure_delay: float = 0.25      # s before a failed Logon is answered, doubled for
                                           # each further failure in a row (at most 30 s)
    settings: str = ""


class Session(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A FIX session of the server, known by its CompIDs. An ``order``
    session trades as ``user`` (default: the user named as its
    TargetCompID); a ``drop_copy`` session receives a copy of every
    ExecutionReport of the users of ``firms`` (none: every user)."""
    target_comp_id: str                    # the client's CompID (its 49, our 56)
    sender_comp_id: str = ""               # ours (default: engine.comp_id)
    user: str = ""
    kind: Literal["order", "drop_copy"] = "order"
    password: str = ""                     # Password (554) its Logon must carry ("": none)
    heartbeat: int = 0                     # HeartBtInt a Logon must ask for (0: any)
    reset_on_logon: bool = False
    reset_on_logout: bool = False
    reset_on_disconnect: bool = False
    store: str = ""                        # default: server.store
    firms: tuple[str, ...] = ()


class Operator(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A login of the msgspec port that may run the sell-side commands
    (``act``); ``may_reset`` also lets it replace the engine (a test venue)."""
    name: str
    password: str
    may_reset: bool = False


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    mode: Literal["auto", "worked"] = "auto"
    engine: EngineConfig = EngineConfig()
    matching: MatchingConfig = MatchingConfig()
    gateways: tuple[Gateway, ...] = ()
    accounts: tuple[Account, ...] = ()
    order_profiles: tuple[OrderProfile, ...] = ()
    secondary: SecondaryConfig = SecondaryConfig()
    execution_source: ExecutionSourceConfig = ExecutionSourceConfig()
    audit: AuditConfig = AuditConfig()
    journal: JournalConfig = JournalConfig()
    cluster: ClusterConfig = ClusterConfig()
    users: tuple[User, ...] = ()
    instruments: tuple[Instrument, ...] = ()
    server: ServerConfig = ServerConfig()
    sessions: tuple[Session, ...] = ()     # a user with none gets one, named as it
    operators: tuple[Operator, ...] = ()


def default_table() -> dict[str, Any]:
    """The embedded default configuration as a plain table."""
    text = resources.files("fastcore").joinpath("default_config.toml").read_text()
    return tomllib.loads(text)


def alone() -> dict[str, Any]:
    """A table keeping the embedded default's users without their
    credentials: merged over a configuration, each user trades alone and
    sees its own orders only (no shared order book), as the tests and
    benchmarks of everything but routing want it."""
    return {"users": [{"name": user["name"]} for user in default_table()["users"]]}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: tables key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _unique(items, attr: str, what: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if not value or not value.isprintable() or "\x01" in value or "|" in value:
            raise ConfigError(f"{what}[{i}].{attr}", f"{value!r} is not a usable name")
        if value in seen:
            raise ConfigError(f"{what}[{i}].{attr}", f"{value!r} appears twice")
        seen.add(value)


def _where(text: str) -> tuple[str, str]:
    """(entry, why) from msgspec's message, e.g. "Expected `str`, got `int` - at
    `$.users[0].name`"; an unknown key is named with the table holding it."""
    why, _, at = text.partition(" - at `$")
    entry = at.rstrip("`").lstrip(".")
    if why.startswith("Object contains unknown field `"):
        key = why.split("`")[1]
        entry = f"{entry}.{key}" if entry else key
        why = "unknown key"
    return entry, why


def read(path: str | os.PathLike) -> dict[str, Any]:
    """The table of a TOML configuration file, unchecked; ConfigError when it
    cannot be read."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(str(path), exc.strerror or str(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not TOML: {exc}") from None


def overlay(config: Config, table: dict[str, Any]) -> Config:
    """``config`` with ``table`` merged over it, checked again."""
    return load(merge(msgspec.to_builtins(config), table))


def load(source: str | os.PathLike | dict | Config | None = None) -> Config:
    """A Config from ``source``: None (the default), a TOML file path, a table
    merged over the default, or a Config (returned as is)."""
    if isinstance(source, Config):
        return source
    table = default_table()
    if isinstance(source, dict):
        table = merge(table, source)
    elif isinstance(source, (str, os.PathLike)):
        table = merge(table, read(source))
    elif source is not None:
        raise ConfigError("", f"a configuration is a file path or a table, not {source!r}")
    server = table.get("server")
    settings = server.get("settings") if isinstance(server, dict) else None
    if settings:
        from fastcore.server.settings import read_settings
        if isinstance(source, (str, os.PathLike)):      # relative to the file naming it
            settings = os.path.join(os.path.dirname(os.fspath(source)), settings)
        table = merge(table, read_settings(settings))
    try:
        config = msgspec.convert(table, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(*_where(str(exc))) from None
    if not config.users:
        raise ConfigError("users", "at least one user is needed")
    _unique(config.users, "name", "users")
    _unique(config.instruments, "symbol", "instruments")
    if len(config.users) > 65535:
        raise ConfigError("users", "at most 65535 users")
    config = _routing(config)
    _accounts(config)
    for i, ins in enumerate(config.instruments):
        rules(ins, f"instruments[{i}]")
    for account, mode in config.matching.self_trade.items():
        if mode not in STP_MODES:
            raise ConfigError(f"matching.self_trade.{account}",
                              f"{mode!r} is not one of {', '.join(STP_MODES)}")
    _cluster(config)
    return _server(config)


def _cluster(config: Config) -> None:
    """The partition map, when the cluster is enabled: configured symbols,
    each instrument in exactly one partition."""
    cl = config.cluster
    if not cl.enabled:
        return
    if not cl.partitions:
        raise ConfigError("cluster.partitions", "the cluster needs at least one partition")
    if not cl.name or not all(c.isalnum() or c in "-_" for c in cl.name):
        raise ConfigError("cluster.name", f"{cl.name!r}: letters, digits, - and _ only")
    symbols = {ins.symbol for ins in config.instruments}
    seen: dict[str, int] = {}
    for p, part in enumerate(cl.partitions):
        if not part:
            raise ConfigError(f"cluster.partitions[{p}]", "a partition with no instrument")
        for symbol in part:
            if symbol not in symbols:
                raise ConfigError(f"cluster.partitions[{p}]",
                                  f"{symbol!r} is not a configured instrument")
            if symbol in seen:
                raise ConfigError(f"cluster.partitions[{p}]",
                                  f"{symbol!r} is in partition {seen[symbol]} too")
            seen[symbol] = p
    if len(seen) != len(symbols):
        missing = sorted(symbols - seen.keys())
        raise ConfigError("cluster.partitions", f"in no partition: {', '.join(missing)}")


def credential(text: str, entry: str) -> tuple[str, str, str]:
    """"Member/Group/Trader" → its three parts; ConfigError when it is not one."""
    parts = text.split("/")
    if len(parts) != 3 or not all(p and p.isprintable() and "\x01" not in p and
                                  not p.isspace() for p in parts):
        raise ConfigError(entry, f"{text!r} is not a credential Member/Group/Trader")
    return parts[0], parts[1], parts[2]


def _routing(config: Config) -> Config:
    """Gateways, accounts and credentials checked; each instrument's gateway
    and each credential's exchange part filled in."""
    _unique(config.gateways, "name", "gateways")
    _unique(config.accounts, "name", "accounts")
    gateways = {g.name: g for g in config.gateways}
    exchanges = [g.name for g in config.gateways if g.kind == "exchange"]
    accounts = {a.name for a in config.accounts}
    instruments = []
    for i, ins in enumerate(config.instruments):
        if not ins.gateway:
            if not exchanges:
                raise ConfigError(f"instruments[{i}].gateway", "no exchange gateway is configured")
            ins = msgspec.structs.replace(ins, gateway=exchanges[0])
        elif gateways.get(ins.gateway) is None or gateways[ins.gateway].kind != "exchange":
            raise ConfigError(f"instruments[{i}].gateway",
                              f"{ins.gateway!r} is not a configured exchange gateway")
        instruments.append(ins)
    users = []
    for i, user in enumerate(config.users):
        creds = {}
        for gw, c in user.credentials.items():
            entry = f"users[{i}].credentials.{gw}"
            if gw not in gateways:
                raise ConfigError(entry, f"{gw!r} is not a configured gateway")
            credential(c.routing, f"{entry}.routing")
            c = msgspec.structs.replace(c, exchange=c.exchange or c.routing)
            credential(c.exchange, f"{entry}.exchange")
            if c.account and c.account not in accounts:
                raise ConfigError(f"{entry}.account", f"{c.account!r} is not a configured account")
            creds[gw] = c
        users.append(msgspec.structs.replace(user, credentials=creds))
    return msgspec.structs.replace(config, instruments=tuple(instruments), users=tuple(users))


def _source(code: str, entry: str) -> None:
    if code and (len(code) != 1 or code not in EXECUTION_SOURCES):
        raise ConfigError(entry, f"{code!r} is not an execution source code "
                                 f"({', '.join(EXECUTION_SOURCES)})")


def rule_parts(rule: str, entry: str = "secondary.rule") -> list[tuple[str, str]]:
    """The secondary account rule as (literal text, field) pairs, the field
    one of company, user, account or "" (the end); ConfigError otherwise."""
    try:
        parts = [(text, field or "") for text, field, spec, conv
                 in string.Formatter().parse(rule)]
    except ValueError as exc:
        raise ConfigError(entry, f"{rule!r}: {exc}") from None
    fields = [field for _, field in parts if field]
    if any(f not in ("company", "user", "account") for f in fields) or \
            fields.count("account") > 1:
        raise ConfigError(entry, f"{rule!r}: the fields are {{company}}, {{user}} and "
                                 "{account} (once)")
    return parts


def _accounts(config: Config) -> None:
    """Order profiles, secondary accounts and execution source codes checked."""
    _unique(config.order_profiles, "name", "order_profiles")
    _unique(config.secondary.accounts, "name", "secondary.accounts")
    accounts = {a.name for a in config.accounts}
    profiles = {p.name for p in config.order_profiles}
    for i, p in enumerate(config.order_profiles):
        _source(p.execution_source, f"order_profiles[{i}].execution_source")
    for i, m in enumerate(config.secondary.accounts):
        if m.account not in accounts:
            raise ConfigError(f"secondary.accounts[{i}].account",
                              f"{m.account!r} is not a configured account")
        if m.profile and m.profile not in profiles:
            raise ConfigError(f"secondary.accounts[{i}].profile",
                              f"{m.profile!r} is not a configured order profile")
    rule_parts(config.secondary.rule)
    for i, u in enumerate(config.users):
        _source(u.execution_source, f"users[{i}].execution_source")
    firms = {u.firm for u in config.users}
    for firm in config.execution_source.firms:
        if firm not in firms:
            raise ConfigError(f"execution_source.firms.{firm}", f"no user is of firm {firm!r}")


def _server(config: Config) -> Config:
    """The server's part checked, and the sessions completed: an order
    session for each user without one, SenderCompID and user filled in."""
    srv = config.server
    for key in ("fix_port", "msgspec_port"):
        if not 0 <= getattr(srv, key) <= 65535:
            raise ConfigError(f"server.{key}", "is not a TCP port (0: any free one)")
    if srv.fix_port and srv.fix_port == srv.msgspec_port:
        raise ConfigError("server.msgspec_port", "is the FIX port too")
    for key in ("logon_timeout", "max_body_length", "stalled_message_timeout"):
        if getattr(srv, key) <= 0:
            raise ConfigError(f"server.{key}", "must be positive")
    for key in ("sending_time_tolerance", "max_message_rate", "max_throttled",
                "logon_failure_delay"):
        if getattr(srv, key) < 0:
            raise ConfigError(f"server.{key}", "must not be negative")
    users = {u.name for u in config.users}
    firms = {u.firm for u in config.users}
    named = {s.user or s.target_comp_id for s in config.sessions if s.kind == "order"}
    sessions = config.sessions + tuple(Session(target_comp_id=u.name) for u in config.users
                                       if u.name not in named)
    done: list[Session] = []
    seen: set[tuple[str, str]] = set()
    traders: set[str] = set()
    for i, s in enumerate(sessions):
        entry = f"sessions[{i}]"
        s = msgspec.structs.replace(s, sender_comp_id=s.sender_comp_id or config.engine.comp_id)
        for key in ("sender_comp_id", "target_comp_id"):
            value = getattr(s, key)
            if not value.isprintable() or "\x01" in value or "=" in value or " " in value:
                raise ConfigError(f"{entry}.{key}", f"{value!r} is not a usable CompID")
        if (s.sender_comp_id, s.target_comp_id) in seen:
            raise ConfigError(entry, f"the session {s.sender_comp_id}->{s.target_comp_id} "
                                     "appears twice")
        seen.add((s.sender_comp_id, s.target_comp_id))
        if s.heartbeat < 0:
            raise ConfigError(f"{entry}.heartbeat", "must not be negative")
        if s.kind == "order":
            s = msgspec.structs.replace(s, user=s.user or s.target_comp_id)
            if s.user not in users:
                raise ConfigError(f"{entry}.user", f"{s.user!r} is not a configured user")
            if s.user in traders:
                raise ConfigError(f"{entry}.user", f"{s.user!r} has another order session")
            traders.add(s.user)
            if s.firms:
                raise ConfigError(f"{entry}.firms", "only a drop_copy session takes firms")
        else:
            if s.user:
                raise ConfigError(f"{entry}.user", "a drop_copy session trades as nobody")
            for firm in s.firms:
                if firm not in firms:
                    raise ConfigError(f"{entry}.firms", f"no user is of firm {firm!r}")
        done.append(s)
    _unique(config.operators, "name", "operators")
    for i, op in enumerate(config.operators):
        if not op.password:
            raise ConfigError(f"operators[{i}].password", "an operator needs a password")
    return msgspec.structs.replace(config, sessions=tuple(done))


def order_sessions(config: Config) -> dict[str, Session]:
    """Each user's order session, by user name (a user may have none)."""
    return {s.user: s for s in config.sessions if s.kind == "order"}


def decimal_text(value: int, digits: int) -> str:
    """A fixed-point number as exact decimal text without trailing zeros
    (``decimal_text(1002500, 4) == "100.25"``)."""
    whole, frac = divmod(-value if value < 0 else value, 10 ** digits)
    sign = "-" if value < 0 else ""
    if frac:
        return f"{sign}{whole}.{frac:0{digits}d}".rstrip("0")
    return f"{sign}{whole}"


def decimal(value: Number, entry: str, digits: int) -> int:
    """``value`` in fixed point with ``digits`` decimals; ConfigError if inexact."""
    try:
        d = Decimal(str(value))
        scaled = d.scaleb(digits)
        if not d.is_finite() or scaled != scaled.to_integral_value():
            raise InvalidOperation
    except InvalidOperation:
        raise ConfigError(entry, f"{value!r} is not a decimal with at most {digits} "
                                 "decimals") from None
    return int(scaled)


def rules(ins: Instrument, entry: str) -> dict[str, int]:
    """The book rules of an instrument in fixed point (``fastcore.book.Book``'s
    arguments); ConfigError names the entry that does not fit."""
    out = {"tick": decimal(ins.tick, f"{entry}.tick", PX_DIGITS),
           "band": decimal(ins.band, f"{entry}.band", PX_DIGITS),
           "ref_price": decimal(ins.ref_price, f"{entry}.ref_price", PX_DIGITS)}
    for key in ("lot", "min_qty", "max_qty"):
        out[key] = decimal(getattr(ins, key), f"{entry}.{key}", QTY_DIGITS)
    for key in ("tick", "lot"):
        if out[key] <= 0:
            raise ConfigError(f"{entry}.{key}", "must be positive")
    for key in ("min_qty", "max_qty", "band"):
        if out[key] < 0:
            raise ConfigError(f"{entry}.{key}", "must not be negative")
    if out["max_qty"] and out["min_qty"] > out["max_qty"]:
        raise ConfigError(f"{entry}.min_qty", "is above max_qty")
    return out
