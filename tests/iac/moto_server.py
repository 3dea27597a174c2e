"""moto's server, with five differences from real AWS put right for the Terraform tests.

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
4. Application Auto Scaling's tag calls (ListTagsForResource, TagResource, UntagResource)
   are not implemented, and the provider reads a scalable target's tags after creating it
   (it retries the 500 until it times out). This keeps the tags given, per ARN.
5. AWS serves concurrent requests safely; moto's backends are plain dictionaries shared by
   the server's threads, and Terraform sends up to ten requests at once. Under load a request
   has failed after its change was made (the SDK's retry then met its own subnet:
   InvalidSubnet.Conflict; a default group's rule revoked twice: InvalidPermission.NotFound).
   This handles one request at a time (the GIL allowed little more anyway).

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

import json

import moto.applicationautoscaling.responses as aas_responses

AAS = aas_responses.ApplicationAutoScalingResponse
_register_scalable_target = AAS.register_scalable_target
_aas_tags: dict = {}


def register_scalable_target(self):
    out = _register_scalable_target(self)
    arn = json.loads(out)["ScalableTargetARN"]
    _aas_tags.setdefault(arn, {}).update(self._get_param("Tags") or {})
    return out


def list_tags_for_resource(self):
    return json.dumps({"Tags": _aas_tags.get(self._get_param("ResourceARN"), {})})


def tag_resource(self):
    _aas_tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
    return "{}"


def untag_resource(self):
    tags = _aas_tags.get(self._get_param("ResourceARN"), {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return "{}"


AAS.register_scalable_target = register_scalable_target
AAS.list_tags_for_resource = list_tags_for_resource
AAS.tag_resource = tag_resource
AAS.untag_resource = untag_resource


import threading

from moto.moto_server import werkzeug_app

_dispatch = werkzeug_app.DomainDispatcherApplication.__call__
_one_at_a_time = threading.Lock()


def dispatch(self, environ, start_response):
    # The response body is an iterable; moto's are lists, built inside the call.
    with _one_at_a_time:
        return _dispatch(self, environ, start_response)


werkzeug_app.DomainDispatcherApplication.__call__ = dispatch

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
