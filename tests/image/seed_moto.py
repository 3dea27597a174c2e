"""Creates, in moto's EC2 API, an endpoint VPC in REGION with one interface endpoint per
service (two subnets each), and prints what a resolver must answer as JSON:
{"vpc_id": ..., "names": {hostname: [ipv4, ...]}}. Run inside the test's network namespace,
where moto listens; uses the boto3 that moto[server] installs.

Usage: seed_moto.py ENDPOINT_URL REGION SERVICE..."""

import json
import sys

import boto3

url, region, services = sys.argv[1], sys.argv[2], sys.argv[3:]
ec2 = boto3.client("ec2", endpoint_url=url, region_name=region,
                   aws_access_key_id="test", aws_secret_access_key="test")
vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
names = {}
for service in services:
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, VpcEndpointType="Interface", ServiceName=f"com.amazonaws.{region}.{service}",
        SubnetIds=subnets, PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])
    names[f"{service}.{region}.amazonaws.com"] = sorted(i["PrivateIpAddress"] for i in enis["NetworkInterfaces"])
print(json.dumps({"vpc_id": vpc, "names": names}))
