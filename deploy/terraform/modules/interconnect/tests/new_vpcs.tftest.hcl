# Both VPCs created by the module. Plans only, against mock providers: nothing leaves this
# machine. Route tables and endpoints get fixed ids (override_during = plan) so assertions
# can follow references, not just counts.

mock_provider "aws" {
  alias = "app"
  mock_data "aws_availability_zones" {
    defaults = { names = ["ap-southeast-6a", "ap-southeast-6b"] }
  }
}

mock_provider "aws" {
  alias = "endpoint"
  # The endpoint VPC lives in an account of its own (a network account).
  mock_data "aws_caller_identity" {
    defaults = { account_id = "222222222222" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["ap-southeast-2a", "ap-southeast-2b"] }
  }
  # What DescribeVpcEndpoints returns for an endpoint with private DNS on: its private name,
  # a zonal name, and the regional name, in no particular order.
  override_resource {
    target          = aws_vpc_endpoint.interface
    override_during = plan
    values = {
      id = "vpce-0a1b2c3d4e5f60718"
      dns_entry = [
        { dns_name = "bedrock-runtime.ap-southeast-2.amazonaws.com", hosted_zone_id = "ZPRIVATE" },
        { dns_name = "vpce-0a1b2c3d4e5f60718-abcd1234-ap-southeast-2a.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com", hosted_zone_id = "ZZONAL" },
        { dns_name = "vpce-0a1b2c3d4e5f60718-abcd1234.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com", hosted_zone_id = "ZREGIONAL" },
      ]
    }
  }
  override_resource {
    target          = aws_vpc_endpoint.discovery
    override_during = plan
    values = {
      id = "vpce-0ec2ec2ec2ec2ec20"
      dns_entry = [
        { dns_name = "vpce-0ec2ec2ec2ec2ec20-ffff0000-ap-southeast-2b.ec2.ap-southeast-2.vpce.amazonaws.com", hosted_zone_id = "ZZONAL" },
        { dns_name = "vpce-0ec2ec2ec2ec2ec20-ffff0000.ec2.ap-southeast-2.vpce.amazonaws.com", hosted_zone_id = "ZREGIONAL" },
      ]
    }
  }
}

override_resource {
  target          = module.app_vpc[0].aws_route_table.this["ap-southeast-6a"]
  override_during = plan
  values          = { id = "rtb-app-a" }
}
override_resource {
  target          = module.app_vpc[0].aws_route_table.this["ap-southeast-6b"]
  override_during = plan
  values          = { id = "rtb-app-b" }
}
override_resource {
  target          = module.endpoint_vpc[0].aws_route_table.this
  override_during = plan
  values          = { id = "rtb-endpoints" }
}
override_resource {
  target          = aws_security_group.endpoints[0]
  override_during = plan
  values          = { id = "sg-endpoints" }
}
override_resource {
  target          = module.endpoint_vpc[0].aws_subnet.this["0"]
  override_during = plan
  values          = { id = "subnet-ep-0" }
}
override_resource {
  target          = module.endpoint_vpc[0].aws_subnet.this["1"]
  override_during = plan
  values          = { id = "subnet-ep-1" }
}
override_resource {
  target          = aws_vpc_peering_connection.this[0]
  override_during = plan
  values          = { id = "pcx-0123" }
}
override_resource {
  target          = aws_nat_gateway.app
  override_during = plan
  values          = { id = "nat-0123" }
}

variables {
  name            = "t"
  app_region      = "ap-southeast-6"
  endpoint_region = "ap-southeast-2"
  create_app_vpc  = true
  app_vpc_cidr    = "10.10.0.0/16"
  services = {
    "bedrock-runtime" = {}
    "bedrock"         = { private_dns_enabled = false }
  }
}

run "routes_both_ways" {
  command = plan

  # One route to the endpoint VPC in each app route table, through the peering.
  assert {
    condition = (
      length(aws_route.app_to_endpoints) == length(module.app_vpc[0].route_table_ids) &&
      toset([for r in aws_route.app_to_endpoints : r.route_table_id]) == toset(["rtb-app-a", "rtb-app-b"]) &&
      alltrue([for r in aws_route.app_to_endpoints : r.destination_cidr_block == "10.20.0.0/16" && r.vpc_peering_connection_id == "pcx-0123"])
    )
    error_message = "Each app route table needs exactly one route to 10.20.0.0/16 over the peering: ${jsonencode(aws_route.app_to_endpoints)}"
  }

  # And one route back to the app VPC in the endpoint route table.
  assert {
    condition = (
      length(aws_route.endpoints_to_app) == 1 &&
      alltrue([for r in aws_route.endpoints_to_app : r.route_table_id == "rtb-endpoints" && r.destination_cidr_block == "10.10.0.0/16" && r.vpc_peering_connection_id == "pcx-0123"])
    )
    error_message = "The endpoint route table needs exactly one route back to 10.10.0.0/16 over the peering: ${jsonencode(aws_route.endpoints_to_app)}"
  }

  assert {
    condition     = aws_vpc_peering_connection.this[0].peer_region == "ap-southeast-2" && aws_vpc_peering_connection_accepter.this[0].auto_accept
    error_message = "The peering must be requested to ap-southeast-2 and accepted there."
  }
}

run "endpoint_security_group_admits_443_from_app_cidrs_only" {
  command = plan

  assert {
    condition = (
      length(aws_vpc_security_group_ingress_rule.endpoints) == 1 &&
      alltrue([for r in aws_vpc_security_group_ingress_rule.endpoints :
        r.ip_protocol == "tcp" && r.from_port == 443 && r.to_port == 443 &&
        r.cidr_ipv4 == "10.10.0.0/16" && r.security_group_id == "sg-endpoints" &&
        r.cidr_ipv6 == null && r.referenced_security_group_id == null && r.prefix_list_id == null
      ])
    )
    error_message = "The endpoint security group must admit TCP 443 from 10.10.0.0/16 and nothing else: ${jsonencode(aws_vpc_security_group_ingress_rule.endpoints)}"
  }

  assert {
    condition     = length(aws_security_group.endpoints[0].ingress) == 0
    error_message = "The group has no inline ingress: every rule is a resource of its own, so a joining deployment's rules are never rewritten."
  }

  assert {
    condition     = length(aws_security_group.endpoints[0].egress) == 0
    error_message = "The endpoint security group needs no egress rule."
  }

  assert {
    condition     = startswith(aws_security_group.endpoints[0].name_prefix, "t-")
    error_message = "The endpoint security group is named by prefix, so renames and second deployments never collide."
  }
}

run "one_endpoint_per_service_with_its_private_dns_setting" {
  command = plan

  assert {
    condition     = keys(aws_vpc_endpoint.interface) == ["bedrock", "bedrock-runtime"]
    error_message = "One interface endpoint per service: ${jsonencode(keys(aws_vpc_endpoint.interface))}"
  }

  assert {
    condition = alltrue([for k, e in aws_vpc_endpoint.interface :
      e.service_name == "com.amazonaws.ap-southeast-2.${k}" && e.vpc_endpoint_type == "Interface" &&
      e.subnet_ids == toset(["subnet-ep-0", "subnet-ep-1"]) && e.security_group_ids == toset(["sg-endpoints"])
    ])
    error_message = "Each endpoint serves com.amazonaws.ap-southeast-2.<service> in both endpoint subnets behind the endpoint security group."
  }

  assert {
    condition     = aws_vpc_endpoint.interface["bedrock-runtime"].private_dns_enabled && !aws_vpc_endpoint.interface["bedrock"].private_dns_enabled
    error_message = "private_dns_enabled must follow each service's setting (bedrock-runtime: on by default; bedrock: off)."
  }
}

run "resolver_mode_has_no_zones_and_a_discovery_endpoint" {
  command = plan

  assert {
    condition     = length(aws_route53_zone.phz) == 0 && length(aws_route53_record.phz_a) == 0
    error_message = "Resolver mode creates no private hosted zone."
  }

  assert {
    condition = (
      aws_vpc_endpoint.discovery[0].service_name == "com.amazonaws.ap-southeast-2.ec2" &&
      !aws_vpc_endpoint.discovery[0].private_dns_enabled &&
      output.resolver_source_object.endpoint_url == "https://vpce-0ec2ec2ec2ec2ec20-ffff0000.ec2.ap-southeast-2.vpce.amazonaws.com"
    )
    error_message = "Discovery must call the ec2 endpoint's regional name: ${jsonencode(output.resolver_source_object)}"
  }
}

run "phz_mode_aliases_each_hostname_to_the_regional_name" {
  command = plan

  variables {
    dns_mode = "phz"
  }

  assert {
    condition = (
      keys(aws_route53_zone.phz) == ["bedrock", "bedrock-runtime"] &&
      aws_route53_zone.phz["bedrock-runtime"].name == "bedrock-runtime.ap-southeast-2.amazonaws.com" &&
      one(aws_route53_zone.phz["bedrock-runtime"].vpc).vpc_region == "ap-southeast-6"
    )
    error_message = "PHZ mode needs one zone per hostname, associated with the app VPC in ap-southeast-6."
  }

  assert {
    condition = alltrue([for k, r in aws_route53_record.phz_a :
      r.type == "A" && r.name == aws_route53_zone.phz[k].name &&
      one(r.alias).name == "vpce-0a1b2c3d4e5f60718-abcd1234.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com" &&
      one(r.alias).zone_id == "ZREGIONAL"
    ])
    error_message = "Each zone's A record must alias the endpoint's regional DNS name (not a zonal or private one): ${jsonencode(aws_route53_record.phz_a)}"
  }

  assert {
    condition     = length(aws_vpc_endpoint.discovery) == 0 && length(aws_route53_record.phz_aaaa) == 0
    error_message = "PHZ mode needs no discovery endpoint, and IPv4 endpoints no AAAA alias."
  }
}

run "single_nat_gateway_serves_every_private_route_table" {
  command = plan

  variables {
    app_nat_gateway = "single"
  }

  assert {
    condition = (
      length(aws_nat_gateway.app) == 1 && length(aws_subnet.app_public) == 2 &&
      length(aws_route.app_private_nat) == 2 &&
      toset([for r in aws_route.app_private_nat : r.route_table_id]) == toset(["rtb-app-a", "rtb-app-b"]) &&
      alltrue([for r in aws_route.app_private_nat : r.destination_cidr_block == "0.0.0.0/0" && r.nat_gateway_id == "nat-0123"])
    )
    error_message = "One NAT gateway, and a default route to it in each private route table."
  }
}

run "no_nat_gateway_by_default" {
  command = plan

  assert {
    condition     = length(aws_nat_gateway.app) == 0 && length(aws_internet_gateway.app) == 0 && length(aws_route.app_private_nat) == 0
    error_message = "No internet path unless app_nat_gateway asks for one."
  }
}

run "flow_log_role_is_named_by_prefix" {
  command = plan

  assert {
    condition     = startswith(aws_iam_role.flow_logs[0].name_prefix, "t-")
    error_message = "IAM roles are global: the flow-log role is named by prefix so two deployments never collide."
  }
}

run "dualstack_needs_an_existing_dual_stack_vpc" {
  command = plan

  variables {
    services = { "bedrock-runtime" = { ip_address_type = "dualstack" } }
  }

  expect_failures = [aws_security_group.endpoints[0]]
}

run "kms_key_must_be_in_the_log_groups_region" {
  command = plan

  variables {
    app_log_kms_key_arn      = "arn:aws:kms:ap-southeast-6:123456789012:key/app"
    endpoint_log_kms_key_arn = "arn:aws:kms:ap-southeast-6:123456789012:key/app"
  }

  expect_failures = [aws_iam_role.flow_logs]
}

run "kms_keys_per_region_are_accepted" {
  command = plan

  variables {
    app_log_kms_key_arn      = "arn:aws:kms:ap-southeast-6:123456789012:key/app"
    endpoint_log_kms_key_arn = "arn:aws:kms:ap-southeast-2:123456789012:key/endpoints"
  }

  assert {
    condition = (
      module.app_vpc[0].flow_log_group.kms_key_id == "arn:aws:kms:ap-southeast-6:123456789012:key/app" &&
      module.endpoint_vpc[0].flow_log_group.kms_key_id == "arn:aws:kms:ap-southeast-2:123456789012:key/endpoints"
    )
    error_message = "Each flow log group takes the key of its own region."
  }
}

run "peering_names_the_endpoint_account" {
  command = plan

  assert {
    condition     = aws_vpc_peering_connection.this[0].peer_owner_id == "222222222222" && output.endpoint_account_id == "222222222222"
    error_message = "The peering names the endpoint provider's account, so that an endpoint VPC in another account can be peered."
  }
}

run "discovery_role_may_do_exactly_the_three_describes_and_trusts_only_the_given_roles" {
  command = plan

  variables {
    discovery_role = {
      trusted_role_arns = ["arn:aws:iam::111111111111:role/t-task-*"]
      external_id       = "bedrock-link-t"
    }
  }

  override_resource {
    target          = aws_iam_role.discovery[0]
    override_during = plan
    values          = { arn = "arn:aws:iam::222222222222:role/t-discovery-1", id = "t-discovery-1" }
  }

  assert {
    condition = (
      length(jsondecode(aws_iam_role_policy.discovery[0].policy).Statement) == 1 &&
      toset(jsondecode(aws_iam_role_policy.discovery[0].policy).Statement[0].Action) == toset([
        "ec2:DescribeVpcEndpoints", "ec2:DescribeVpcEndpointServices", "ec2:DescribeNetworkInterfaces",
      ]) &&
      length(jsondecode(aws_iam_role_policy.discovery[0].policy).Statement[0].Action) == 3 &&
      jsondecode(aws_iam_role_policy.discovery[0].policy).Statement[0].Resource == "*"
    )
    error_message = "The discovery role may make exactly the three Describe calls: ${aws_iam_role_policy.discovery[0].policy}"
  }

  # The same three as deploy/iam/discovery-policy.json, which tests/it/discovery.rs checks
  # against the calls a real discovery pass makes.
  assert {
    condition     = toset(jsondecode(aws_iam_role_policy.discovery[0].policy).Statement[0].Action) == toset(jsondecode(file("../../../iam/discovery-policy.json")).Statement[0].Action)
    error_message = "The discovery role's policy and deploy/iam/discovery-policy.json disagree."
  }

  assert {
    condition = (
      length(jsondecode(aws_iam_role.discovery[0].assume_role_policy).Statement) == 1 &&
      jsondecode(aws_iam_role.discovery[0].assume_role_policy).Statement[0].Action == "sts:AssumeRole" &&
      jsondecode(aws_iam_role.discovery[0].assume_role_policy).Statement[0].Principal.AWS == ["arn:aws:iam::111111111111:root"] &&
      jsondecode(aws_iam_role.discovery[0].assume_role_policy).Statement[0].Condition.ArnLike["aws:PrincipalArn"] == ["arn:aws:iam::111111111111:role/t-task-*"] &&
      jsondecode(aws_iam_role.discovery[0].assume_role_policy).Statement[0].Condition.StringEquals["sts:ExternalId"] == "bedrock-link-t"
    )
    error_message = "Only the given roles, with the external ID, may assume the discovery role: ${aws_iam_role.discovery[0].assume_role_policy}"
  }

  assert {
    condition = (
      output.resolver_source_object.role_arn == "arn:aws:iam::222222222222:role/t-discovery-1" &&
      output.resolver_source_object.external_id == "bedrock-link-t" &&
      output.discovery_role_arn == "arn:aws:iam::222222222222:role/t-discovery-1"
    )
    error_message = "The resolver's source carries the role to assume and its external ID: ${jsonencode(output.resolver_source_object)}"
  }
}

run "no_discovery_role_unless_asked" {
  command = plan

  assert {
    condition     = length(aws_iam_role.discovery) == 0 && output.resolver_source_object.role_arn == null && output.resolver_source_object.external_id == null
    error_message = "Without discovery_role, discovery runs as the task role itself."
  }
}

run "a_cross_region_service_gets_an_app_vpc_endpoint_and_no_resolver_scope" {
  command = plan

  variables {
    services = {
      "bedrock-runtime" = {}
      "s3"              = { connectivity = "cross_region_endpoint" }
    }
  }

  assert {
    condition     = keys(aws_vpc_endpoint.interface) == ["bedrock-runtime"] && keys(aws_vpc_endpoint.cross_region) == ["s3"]
    error_message = "The cross-region service's endpoint is in the app VPC, not the endpoint VPC."
  }

  assert {
    condition = (
      aws_vpc_endpoint.cross_region["s3"].service_name == "com.amazonaws.ap-southeast-2.s3" &&
      aws_vpc_endpoint.cross_region["s3"].service_region == "ap-southeast-2" &&
      aws_vpc_endpoint.cross_region["s3"].private_dns_enabled &&
      aws_vpc_endpoint.cross_region["s3"].vpc_endpoint_type == "Interface"
    )
    error_message = "A cross-region endpoint in the app VPC, service_region = endpoint_region, private DNS on."
  }

  assert {
    condition = (
      length(aws_security_group.app_endpoints[0].ingress) == 1 &&
      alltrue([for r in aws_security_group.app_endpoints[0].ingress : r.from_port == 443 && r.to_port == 443 && toset(r.cidr_blocks) == toset(["10.10.0.0/16"])])
    )
    error_message = "The app-side group admits 443 from the app CIDRs."
  }

  assert {
    condition     = toset(output.resolver_source_object.services) == toset(["bedrock-runtime"])
    error_message = "The resolver leaves the cross-region service to the VPC's own private DNS: ${jsonencode(output.resolver_source_object.services)}"
  }
}

run "a_cross_region_service_gets_no_private_hosted_zone" {
  command = plan

  variables {
    dns_mode = "phz"
    services = {
      "bedrock-runtime" = {}
      "s3"              = { connectivity = "cross_region_endpoint" }
    }
  }

  assert {
    condition     = keys(aws_route53_zone.phz) == ["bedrock-runtime"]
    error_message = "Private DNS of the app-VPC endpoint answers s3; a zone of ours would shadow it."
  }
}

run "transit_gateway_routes_replace_the_peering" {
  command = plan

  variables {
    connectivity                = "transit_gateway"
    app_transit_gateway_id      = "tgw-0aaa"
    endpoint_transit_gateway_id = "tgw-0bbb"
  }

  assert {
    condition     = length(aws_vpc_peering_connection.this) == 0 && length(aws_vpc_peering_connection_accepter.this) == 0 && output.peering_connection_id == null
    error_message = "No peering with connectivity = \"transit_gateway\"."
  }

  assert {
    condition = (
      length(aws_route.app_to_endpoints) == 2 &&
      alltrue([for r in aws_route.app_to_endpoints : r.transit_gateway_id == "tgw-0aaa" && r.vpc_peering_connection_id == null && r.destination_cidr_block == "10.20.0.0/16"]) &&
      length(aws_route.endpoints_to_app) == 1 &&
      alltrue([for r in aws_route.endpoints_to_app : r.transit_gateway_id == "tgw-0bbb" && r.vpc_peering_connection_id == null && r.destination_cidr_block == "10.10.0.0/16"])
    )
    error_message = "Each side's routes point at its transit gateway: ${jsonencode(aws_route.app_to_endpoints)} ${jsonencode(aws_route.endpoints_to_app)}"
  }
}

run "transit_gateway_needs_both_gateways" {
  command = plan

  variables {
    connectivity           = "transit_gateway"
    app_transit_gateway_id = "tgw-0aaa"
  }

  expect_failures = [aws_route.endpoints_to_app]
}
