"""Sections ``endpoints`` and ``auth``: where the APIs are, and how the exporter signs in."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.config.credential_chain import METHODS
from exporter.config.schema import meta as _meta


@dataclass(frozen=True)
class EndpointsConfig:
    workspace: str = field(
        default="",
        metadata=_meta(
            "Workspace API base URL (`http://` allowed for proxies and tests; a comma-separated "
            "list: the first, the others as fall-backs). Empty: env "
            "`HUAWEICLOUD_SDK_REGION_WORKSPACE_<REGION>` (upper case, `_` for `-`), the regions file, "
            "the SDK's region table (see [Regions and endpoints](#regions-and-endpoints))"
        ),
    )
    iam: str = field(
        default="",
        metadata=_meta(
            "IAM base URL (tokens, project discovery, federation). Empty: env "
            "`HUAWEICLOUD_SDK_IAM_ENDPOINT`, `HUAWEICLOUD_SDK_REGION_IAM_<REGION>`, the regions file, "
            "the SDK's region table, else the global `https://iam.myhuaweicloud.com`"
        ),
    )
    ces: str = field(
        default="",
        metadata=_meta(
            "Cloud Eye base URL. Empty: env `HUAWEICLOUD_SDK_REGION_CES_<REGION>` (upper case, `_` "
            "for `-`), the regions file, the SDK's region table"
        ),
    )
    sts: str = field(
        default="",
        metadata=_meta(
            "STS base URL (OIDC credentials). Empty: env `HUAWEICLOUD_SDK_STS_ENDPOINT`, else "
            "`https://sts.cn-north-4.myhuaweicloud.com` (the SDK's default)"
        ),
    )


@dataclass(frozen=True)
class AuthConfig:
    method: str = field(
        default="chain",
        metadata=_meta(
            "`chain`: the SDK's credential chain (OIDC, environment, profile file, ECS metadata, CCE "
            "pod identity; see [Credentials](#credentials)); or one method pinned: `aksk` (AK/SK "
            "from `ak_env`/`sk_env` or the files), `token` (IAM user token; needs `project_id`), "
            "`oidc`, `idp`, `profile`, `metadata`, `pod_identity`",
            choices=METHODS,
        ),
    )
    ak_file: str = field(default="", metadata=_meta("file holding the access key. Empty: env `ak_env`"))
    sk_file: str = field(default="", metadata=_meta("file holding the secret key. Empty: env `sk_env`"))
    security_token_file: str = field(
        default="",
        metadata=_meta("file holding the security token of temporary AK/SK. Empty: env `security_token_env`"),
    )
    username: str = field(
        default="", metadata=_meta("token auth: IAM user name. Empty: env `WORKSPACE_EXPORTER_IAM_USERNAME`")
    )
    domain_name: str = field(
        default="",
        metadata=_meta("token auth: account (domain) name. Empty: env `WORKSPACE_EXPORTER_IAM_DOMAIN`"),
    )
    password_file: str = field(
        default="", metadata=_meta("token auth: file holding the IAM password. Empty: env `password_env`")
    )
    # Names of the environment variables to read when no *_file is set (per target).
    ak_env: str = field(
        default="HUAWEICLOUD_SDK_AK",
        metadata=_meta("environment variable the access key is read from when `ak_file` is empty"),
    )
    sk_env: str = field(
        default="HUAWEICLOUD_SDK_SK",
        metadata=_meta("environment variable the secret key is read from when `sk_file` is empty"),
    )
    security_token_env: str = field(
        default="HUAWEICLOUD_SDK_SECURITY_TOKEN",
        metadata=_meta("environment variable of the security token when `security_token_file` is empty"),
    )
    password_env: str = field(
        default="WORKSPACE_EXPORTER_IAM_PASSWORD",
        metadata=_meta("environment variable of the IAM password when `password_file` is empty"),
    )
    metadata_url: str = field(
        default="http://169.254.169.254",
        metadata=_meta("ECS metadata service base URL (`metadata` credentials; agency temporary AK/SK)"),
    )
    # IAM tokens live 24 hours: refreshing earlier than that before expiry would refresh constantly.
    token_refresh_before: float = field(
        default=3600.0,
        metadata=_meta(
            "fetch a new IAM token this long before the current one expires (tokens live 24 h); "
            'a 401 "token expires" refreshes once at once',
            duration=True,
            minimum=60,
            maximum=23 * 3600,
        ),
    )
