"""Drive the official SDK clients against a local endpoint, and turn our captured request
into the SDK request for the same call."""

from __future__ import annotations

import json
import re
from typing import Any

from huaweicloudsdkces.v1 import CesClient as CesV1Client
from huaweicloudsdkces.v2 import CesClient as CesV2Client
from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkworkspace.v2 import WorkspaceClient as SdkWorkspaceClient

from exporter.fake import FakeWorkspace
from tests.contract.cases import SdkCase
from tests.contract.conftest import Captured
from tests.contract.schema import model_class, wire_names

_CLIENTS: dict[str, Any] = {
    "workspace": SdkWorkspaceClient,
    "ces_v1": CesV1Client,
    "ces_v2": CesV2Client,
    "iam": IamClient,
}


def sdk_client(service: str, url: str, state: FakeWorkspace) -> Any:
    """An SDK client of ``service`` pointed at ``url`` (plain HTTP, no retries)."""
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    config.timeout = (10, 10)
    creds: Any
    if service == "iam":
        creds = GlobalCredentials(state.ak, state.sk, state.domain_id)
    else:
        creds = BasicCredentials(state.ak, state.sk, state.project_id)
    builder = _CLIENTS[service].new_builder()
    return builder.with_credentials(creds).with_endpoints([url]).with_http_config(config).build()


def http_info(client: Any, case: SdkCase) -> dict[str, Any]:
    """The SDK's request description (method, resource path, every query name) of ``case``."""
    info: dict[str, Any] = getattr(client, f"_{case.operation}_http_info")(case.request())
    return info


def _template_regex(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{regex}$", re.IGNORECASE)


def _convert(value: list[str], type_name: str, name: str, problems: list[str]) -> Any:
    if type_name.startswith("list["):
        return list(value)
    if len(value) != 1:
        problems.append(f"query {name}: sent {len(value)} times, the SDK models one {type_name}")
    raw = value[0]
    if type_name == "int":
        if not re.fullmatch(r"-?\d+", raw):
            problems.append(f"query {name}={raw!r}: the SDK models an int")
            return raw
        return int(raw)
    if type_name == "bool":
        if raw not in ("true", "false"):
            problems.append(f"query {name}={raw!r}: the SDK sends booleans as true/false")
        return raw == "true"
    return raw


def build_model(data: Any, type_name: str, package: str, where: str, problems: list[str]) -> Any:
    """An SDK model instance from our JSON; keys the model lacks are reported, not sent."""
    if data is None or type_name in ("str", "int", "float", "bool", "object"):
        return data
    if type_name.startswith("list["):
        inner = type_name[5:-1]
        if not isinstance(data, list):
            problems.append(f"{where}: not a list")
            return data
        return [build_model(x, inner, package, f"{where}[{i}]", problems) for i, x in enumerate(data)]
    model = model_class(package, type_name)
    if model is None:
        problems.append(f"{where}: the SDK has no type {type_name}")
        return data
    types: dict[str, str] = model.openapi_types  # type: ignore[attr-defined]
    if not types:  # enum-like wrapper: the SDK serialises the raw value
        return data
    if not isinstance(data, dict):
        problems.append(f"{where}: not an object ({type_name})")
        return data
    names = wire_names(model)
    kwargs = {}
    for key, value in data.items():
        attr = names.get(key)
        if attr is None:
            problems.append(f"{where}.{key}: {type_name} has no such key")
            continue
        kwargs[attr] = build_model(value, types[attr], package, f"{where}.{key}", problems)
    return model(**kwargs)


def sdk_request_for(ours: Captured, case: SdkCase, client: Any) -> tuple[Any, list[str]]:
    """The SDK request for the call we made, and what of ours the SDK model cannot express."""
    problems: list[str] = []
    info = http_info(client, case)
    request = case.request()
    attr_of = {wire: attr for attr, wire in case.request.attribute_map.items()}  # type: ignore[attr-defined]
    types: dict[str, str] = case.request.openapi_types  # type: ignore[attr-defined]
    found = _template_regex(info["resource_path"]).match(ours.path)
    if found is None:
        problems.append(f"path {ours.path} does not fit the SDK's {info['resource_path']}")
    else:
        for name, value in found.groupdict().items():
            if name != "project_id":
                setattr(request, attr_of[name], value)
    known = {name for name, _ in info["query_params"]}
    for name, values in ours.query.items():
        if name not in known:
            problems.append(f"query {name}: the SDK request {case.request.__name__} has no such parameter")
            continue
        attr = attr_of[name]
        setattr(request, attr, _convert(values, types[attr], name, problems))
    if ours.body:
        body_type = types.get("body")
        if body_type is None:
            problems.append(f"body sent, but {case.request.__name__} has none")
        else:
            package = case.request.__module__.rsplit(".", 1)[0]
            request.body = build_model(json.loads(ours.body), body_type, package, "$", problems)
    return request, problems
