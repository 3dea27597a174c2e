"""moto's server, with two differences from real AWS put right for the Terraform tests.

1. Real SSM serves /aws/service/ecs/optimized-ami/... (the ECS-optimized AMIs) in every
   commercial region; moto ships them for the regions it knows and none for newer ones such
   as ap-southeast-6, so the resolver module's AMI lookup would fail there for want of data,
   not of a bug. For such a region this serves ap-southeast-2's parameters (moto does not
   check AMI ids).
2. ECS leaves `networkConfiguration` out of DescribeServices for a service without awsvpc
   networking (the resolver module's host-network daemon); moto sends an empty object, on
   which the AWS provider (5.100) dereferences a missing `awsvpcConfiguration` and crashes.
   This leaves it out, as ECS does.
3. Route 53 makes a hosted zone private when CreateHostedZone names a VPC (the provider
   sends no HostedZoneConfig.PrivateZone); moto looks only at that flag, so it would create a
   public zone and drop the VPC. This reads the VPC as Route 53 does.

Everything else is moto as installed.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (moto_server's own arguments)
"""

import re
import sys

import moto.ssm.models as ssm_models

_load_resource = ssm_models.load_resource
FALLBACK_REGION = "ap-southeast-2"


def load_resource(path):
    try:
        return _load_resource(path)
    except FileNotFoundError:
        if "ecs/optimized_amis/" in path:
            return _load_resource(re.sub(r"[^/]+\.json$", f"{FALLBACK_REGION}.json", path))
        raise


ssm_models.load_resource = load_resource

import moto.ecs.models as ecs_models

_service_init = ecs_models.Service.__init__


def service_init(self, *args, **kwargs):
    _service_init(self, *args, **kwargs)
    if not self.network_configuration:
        self.network_configuration = None


ecs_models.Service.__init__ = service_init

import moto.route53.responses as route53_responses

_create_hosted_zone = route53_responses.Route53.create_hosted_zone


def create_hosted_zone(self):
    if self._get_param("VPC.VPCId"):
        get_bool = self._get_bool_param

        def private_when_a_vpc_is_named(name, default=None):
            return True if name == "HostedZoneConfig.PrivateZone" else get_bool(name, default)

        self._get_bool_param = private_when_a_vpc_is_named
    return _create_hosted_zone(self)


route53_responses.Route53.create_hosted_zone = create_hosted_zone


if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
