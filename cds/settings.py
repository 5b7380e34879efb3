"""One Settings object, read from ``CDS_``-prefixed environment variables (documented in README)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ModelWrapValidatorHandler, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


def _bundled(name_in_wheel: str, name_in_checkout: str) -> Path:
    """A data folder shipped in the wheel, or the top-level folder of a source checkout."""
    packaged = PACKAGE_DIR / name_in_wheel
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / name_in_checkout


def default_knowledge_dir() -> Path:
    return _bundled("_cards", "cards")


def default_fixtures_dir() -> Path:
    return _bundled("_fixtures", "fhir_fixtures")


def scenario_folders(root: Path) -> list[Path]:
    """The fixture scenarios under ``root`` (folders holding a request.json), by name."""
    return sorted(p for p in root.iterdir() if (p / "request.json").is_file()) if root.is_dir() else []


def default_data_dir() -> Path:
    """The per-user data folder (XDG): ``$XDG_DATA_HOME/cds-mbc``, else ``~/.local/share/cds-mbc``.

    Never the current directory: ``feedback-report`` run from elsewhere must read the same store.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "cds-mbc"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore", frozen=True)

    # --- service --------------------------------------------------------------------------------
    public_base_url: str = Field(
        "http://127.0.0.1:8080",
        description="Externally visible base URL; JWT `aud` is checked against it. A comma-separated "
        "list is accepted: the first is the canonical URL, `aud` may match any of them.",
    )
    # The rest of a CDS_PUBLIC_BASE_URL list (see _base_url_list): not a setting of its own.
    _base_url_aliases: tuple[str, ...] = PrivateAttr(default=())
    knowledge_dir: Path = Field(default_factory=default_knowledge_dir)
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder of the default SQLite feedback store (default: the per-user data folder).",
    )
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    cors_origins: str = "*"
    log_level: str = "INFO"

    # --- client authentication (JWT) ------------------------------------------------------------
    auth: Literal["jwt", "off"] = "jwt"
    trust_file: Path | None = None
    jwt_algorithms: str = "ES384,RS384"
    jwt_clock_skew_s: int = Field(60, ge=0, le=600)
    jwt_max_lifetime_s: int = Field(3600, ge=60, le=86400)
    jwks_timeout_s: float = Field(3.0, gt=0)
    jwks_cache_s: int = Field(3600, ge=0)
    jwks_min_refresh_interval_s: float = Field(30.0, ge=0)

    # --- hostile input --------------------------------------------------------------------------
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(64, ge=8, le=1000)
    body_timeout_s: float = Field(20.0, gt=0, description="408 when a request body takes longer to arrive")
    keep_alive_timeout_s: int = Field(5, ge=1, le=300)
    header_timeout_s: float = Field(
        10.0, gt=0, le=300, description="a connection is closed if a request head takes longer to arrive"
    )
    override_reason_system: str = Field(
        "urn:cds-mbc:override-reason",
        description="code system of the cards' override reasons: a URI the deployer controls",
    )
    max_concurrency: int = Field(
        256,
        ge=1,
        description="hook and feedback calls in processing per worker; beyond it 503 with Retry-After",
    )

    # --- FHIR server access ---------------------------------------------------------------------
    fhir_server_allowlist: str = Field(
        "", description="Comma-separated FHIR base URLs the service may call, or * (testing only)."
    )
    fhir_timeout_s: float = Field(1.5, gt=0)
    hook_deadline_s: float = Field(4.0, gt=0)
    fhir_max_pages: int = Field(5, ge=1)
    fhir_max_resources: int = Field(2000, ge=1)
    fhir_max_response_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    fhir_validation: Literal["read", "full"] = Field(
        "read",
        description="read: check the elements the pathway reads; full: also whole-resource R4B validation",
    )

    # --- clinical thresholds (defaults and their sources in README) ------------------------------
    menopause_fsh_min_iu_l: float = Field(30.0, gt=0)
    menopause_estradiol_max_pg_ml: float = Field(20.0, gt=0)
    menopause_age_years: int = Field(60, ge=40, le=80)

    @model_validator(mode="wrap")
    @classmethod
    def _base_url_list(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """``CDS_PUBLIC_BASE_URL=a,b,c``: ``public_base_url`` is ``a`` (canonical), ``b`` and ``c`` are
        other URLs a JWT's ``aud`` may name (:attr:`public_base_urls`)."""
        aliases: list[str] = []
        if isinstance(data, dict) and isinstance(data.get("public_base_url"), str):
            urls = [u.strip() for u in data["public_base_url"].split(",") if u.strip()]
            if len(urls) > 1:
                data, aliases = {**data, "public_base_url": urls[0]}, urls[1:]
        settings = handler(data)
        for url in aliases:
            if not url.startswith(("http://", "https://")):
                raise ValueError("every URL in CDS_PUBLIC_BASE_URL must be an absolute http(s) URL")
        settings._base_url_aliases = tuple(url.rstrip("/") for url in aliases)
        return settings

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("CDS_PUBLIC_BASE_URL must be an absolute http(s) URL")
        return value.rstrip("/")

    @property
    def public_base_urls(self) -> tuple[str, ...]:
        """Every base URL a token's ``aud`` may name (the canonical one first)."""
        return (self.public_base_url, *self._base_url_aliases)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'feedback.db').resolve()}"

    @property
    def allowed_fhir_servers(self) -> tuple[str, ...]:
        return tuple(u.strip().rstrip("/") for u in self.fhir_server_allowlist.split(",") if u.strip())

    @property
    def allowed_jwt_algorithms(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.jwt_algorithms.split(",") if a.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
