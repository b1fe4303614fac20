"""The region tables of the official Huawei Cloud SDK, as data (generated: do not edit).

Copied by ``scripts/gen-regions.py`` from huaweicloudsdk* 3.1.219:
Workspace (``huaweicloudsdkworkspace/v2/region``), Cloud Eye
(``huaweicloudsdkces/v1/region``; the v2 and v3 tables are the same), IAM
(``huaweicloudsdkiam/v3/region``) and STS (``huaweicloudsdkcore/auth/endpoint.py``).
``tests/contract/test_regions.py`` compares them with the installed SDK;
:mod:`exporter.config.endpoints` applies them.
"""

from __future__ import annotations

#: Workspace API host per region.
WORKSPACE: dict[str, str] = {
    "af-north-1": "https://workspace.af-north-1.myhuaweicloud.com",
    "af-south-1": "https://workspace.af-south-1.myhuaweicloud.com",
    "ap-southeast-1": "https://workspace.ap-southeast-1.myhuaweicloud.com",
    "ap-southeast-2": "https://workspace.ap-southeast-2.myhuaweicloud.com",
    "ap-southeast-3": "https://workspace.ap-southeast-3.myhuaweicloud.com",
    "cn-east-3": "https://workspace.cn-east-3.myhuaweicloud.com",
    "cn-east-5": "https://workspace.cn-east-5.myhuaweicloud.com",
    "cn-north-11": "https://workspace.cn-north-11.myhuaweicloud.com",
    "cn-north-4": "https://workspace.cn-north-4.myhuaweicloud.com",
    "cn-north-9": "https://workspace.cn-north-9.myhuaweicloud.com",
    "cn-south-1": "https://workspace.cn-south-1.myhuaweicloud.com",
    "cn-southwest-2": "https://workspace.cn-southwest-2.myhuaweicloud.com",
    "eu-west-101": "https://workspace.eu-west-101.myhuaweicloud.com",
    "la-north-2": "https://workspace.la-north-2.myhuaweicloud.com",
    "la-south-2": "https://workspace.la-south-2.myhuaweicloud.com",
    "me-east-1": "https://workspace.me-east-1.myhuaweicloud.com",
    "sa-brazil-1": "https://workspace.sa-brazil-1.myhuaweicloud.com",
    "tr-west-1": "https://workspace.tr-west-1.myhuaweicloud.com",
}

#: Cloud Eye API host per region.
CES: dict[str, str] = {
    "af-north-1": "https://ces.af-north-1.myhuaweicloud.com",
    "af-south-1": "https://ces.af-south-1.myhuaweicloud.com",
    "ap-southeast-1": "https://ces.ap-southeast-1.myhuaweicloud.com",
    "ap-southeast-2": "https://ces.ap-southeast-2.myhuaweicloud.com",
    "ap-southeast-3": "https://ces.ap-southeast-3.myhuaweicloud.com",
    "ap-southeast-4": "https://ces.ap-southeast-4.myhuaweicloud.com",
    "ap-southeast-5": "https://ces.ap-southeast-5.myhuaweicloud.com",
    "cn-east-2": "https://ces.cn-east-2.myhuaweicloud.com",
    "cn-east-3": "https://ces.cn-east-3.myhuaweicloud.com",
    "cn-east-4": "https://ces.cn-east-4.myhuaweicloud.com",
    "cn-east-5": "https://ces.cn-east-5.myhuaweicloud.com",
    "cn-north-1": "https://ces.cn-north-1.myhuaweicloud.com",
    "cn-north-11": "https://ces.cn-north-11.myhuaweicloud.com",
    "cn-north-12": "https://ces.cn-north-12.myhuaweicloud.com",
    "cn-north-2": "https://ces.cn-north-2.myhuaweicloud.com",
    "cn-north-4": "https://ces.cn-north-4.myhuaweicloud.com",
    "cn-north-9": "https://ces.cn-north-9.myhuaweicloud.com",
    "cn-south-1": "https://ces.cn-south-1.myhuaweicloud.com",
    "cn-south-2": "https://ces.cn-south-2.myhuaweicloud.com",
    "cn-south-4": "https://ces.cn-south-4.myhuaweicloud.com",
    "cn-southwest-2": "https://ces.cn-southwest-2.myhuaweicloud.com",
    "cn-southwest-3": "https://ces.cn-southwest-3.myhuaweicloud.com",
    "eu-west-0": "https://ces.eu-west-0.myhuaweicloud.com",
    "eu-west-101": "https://ces.eu-west-101.myhuaweicloud.com",
    "la-north-2": "https://ces.la-north-2.myhuaweicloud.com",
    "la-south-2": "https://ces.la-south-2.myhuaweicloud.com",
    "me-east-1": "https://ces.me-east-1.myhuaweicloud.com",
    "my-kualalumpur-1": "https://ces.my-kualalumpur-1.myhuaweicloud.com",
    "na-mexico-1": "https://ces.na-mexico-1.myhuaweicloud.com",
    "ru-moscow-1": "https://ces.ru-moscow-1.myhuaweicloud.com",
    "sa-brazil-1": "https://ces.sa-brazil-1.myhuaweicloud.com",
    "sa-peru-1": "https://ces.sa-peru-1.myhuaweicloud.com",
    "tr-west-1": "https://ces.tr-west-1.myhuaweicloud.com",
}

#: Regional IAM host per region; a region missing here uses the global IAM host.
IAM: dict[str, str] = {
    "ae-ad-1": "https://iam.ae-ad-1.myhuaweicloud.com",
    "af-south-1": "https://iam.af-south-1.myhuaweicloud.com",
    "ap-southeast-1": "https://iam.ap-southeast-1.myhuaweicloud.com",
    "ap-southeast-2": "https://iam.ap-southeast-2.myhuaweicloud.com",
    "ap-southeast-3": "https://iam.ap-southeast-3.myhuaweicloud.com",
    "ap-southeast-4": "https://iam.ap-southeast-4.myhuaweicloud.com",
    "cn-east-2": "https://iam.cn-east-2.myhuaweicloud.com",
    "cn-east-3": "https://iam.cn-east-3.myhuaweicloud.com",
    "cn-east-4": "https://iam.cn-east-4.myhuaweicloud.com",
    "cn-east-5": "https://iam.cn-east-5.myhuaweicloud.com",
    "cn-north-1": "https://iam.cn-north-1.myhuaweicloud.com",
    "cn-north-12": "https://iam.cn-north-12.myhuaweicloud.com",
    "cn-north-2": "https://iam.cn-north-2.myhuaweicloud.com",
    "cn-north-4": "https://iam.cn-north-4.myhuaweicloud.com",
    "cn-north-9": "https://iam.cn-north-9.myhuaweicloud.com",
    "cn-south-1": "https://iam.cn-south-1.myhuaweicloud.com",
    "cn-south-2": "https://iam.cn-south-2.myhuaweicloud.com",
    "cn-southwest-2": "https://iam.cn-southwest-2.myhuaweicloud.com",
    "eu-west-0": "https://iam.eu-west-0.myhuaweicloud.com",
    "eu-west-101": "https://iam.eu-west-101.myhuaweicloud.eu",
    "la-north-2": "https://iam.la-north-2.myhuaweicloud.com",
    "la-south-2": "https://iam.la-south-2.myhuaweicloud.com",
    "me-east-1": "https://iam.me-east-1.myhuaweicloud.com",
    "my-kualalumpur-1": "https://iam.my-kualalumpur-1.myhuaweicloud.com",
    "na-mexico-1": "https://iam.na-mexico-1.myhuaweicloud.com",
    "ru-moscow-1": "https://iam.ru-moscow-1.myhuaweicloud.com",
    "sa-brazil-1": "https://iam.sa-brazil-1.myhuaweicloud.com",
    "tr-west-1": "https://iam.tr-west-1.myhuaweicloud.com",
}

#: STS host per region (the SDK's OIDC exchange uses only the default, see endpoints.py).
STS: dict[str, str] = {
    "af-south-1": "https://sts.af-south-1.myhuaweicloud.com",
    "ap-southeast-1": "https://sts.ap-southeast-1.myhuaweicloud.com",
    "ap-southeast-2": "https://sts.ap-southeast-2.myhuaweicloud.com",
    "ap-southeast-3": "https://sts.ap-southeast-3.myhuaweicloud.com",
    "ap-southeast-4": "https://sts.ap-southeast-4.myhuaweicloud.com",
    "cn-east-3": "https://sts.cn-east-3.myhuaweicloud.com",
    "cn-north-4": "https://sts.cn-north-4.myhuaweicloud.com",
    "cn-south-1": "https://sts.cn-south-1.myhuaweicloud.com",
    "cn-southwest-2": "https://sts.cn-southwest-2.myhuaweicloud.com",
    "la-south-2": "https://sts.la-south-2.myhuaweicloud.com",
    "sa-brazil-1": "https://sts.sa-brazil-1.myhuaweicloud.com",
    "tr-west-1": "https://sts.tr-west-1.myhuaweicloud.com",
}
