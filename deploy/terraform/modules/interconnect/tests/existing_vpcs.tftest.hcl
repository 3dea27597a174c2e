# An existing app VPC (with a secondary CIDR, and one private and one public route table to
# be found), and a new or existing endpoint VPC. Plans only, against mock providers.

mock_provider "aws" {
  alias = "app"
  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.10.0.0/16"
      cidr_block_associations = [
        { association_id = "vpc-cidr-assoc-1", cidr_block = "10.10.0.0/16", state = "associated" },
        { association_id = "vpc-cidr-assoc-2", cidr_block = "100.64.0.0/20", state = "associated" },
      ]
      enable_dns_support   = true
      enable_dns_hostnames = true
    }
  }
  mock_data "aws_route_tables" {
    defaults = { ids = ["rtb-private", "rtb-public"] }
  }
  mock_data "aws_route_table" {
    defaults = { routes = [] }
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
  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.20.0.0/16"
      cidr_block_associations = [
        { association_id = "vpc-cidr-assoc-3", cidr_block = "10.20.0.0/16", state = "associated" },
      ]
      enable_dns_support   = true
      enable_dns_hostnames = true
    }
  }
  mock_data "aws_route_tables" {
    defaults = { ids = ["rtb-ep-1"] }
  }
}

# The public route table: its default route leads to an internet gateway.
override_data {
  target = data.aws_route_table.app["rtb-public"]
  values = {
    routes = [{
      cidr_block                 = "0.0.0.0/0", gateway_id = "igw-0123", carrier_gateway_id = "", core_network_arn = "",
      destination_prefix_list_id = "", egress_only_gateway_id = "", instance_id = "", ipv6_cidr_block = "",
      local_gateway_id           = "", nat_gateway_id = "", network_interface_id = "", transit_gateway_id = "",
      vpc_endpoint_id            = "", vpc_peering_connection_id = ""
    }]
  }
}

override_resource {
  target          = module.endpoint_vpc[0].aws_route_table.this
  override_during = plan
  values          = { id = "rtb-endpoints" }
}

variables {
  name            = "t"
  app_region      = "ap-southeast-6"
  endpoint_region = "ap-southeast-2"
  create_app_vpc  = false
  app_vpc_id      = "vpc-0a0a0a0a"
  services        = { "bedrock-runtime" = {} }
}

run "routes_to_private_tables_and_back_to_every_app_cidr" {
  command = plan

  assert {
    condition = (
      toset([for r in aws_route.app_to_endpoints : r.route_table_id]) == toset(["rtb-private"]) &&
      alltrue([for r in aws_route.app_to_endpoints : r.destination_cidr_block == "10.20.0.0/16"])
    )
    error_message = "Only the private app route table (no internet gateway route) gets the route to the endpoint VPC: ${jsonencode(aws_route.app_to_endpoints)}"
  }

  assert {
    condition = (
      length(aws_route.endpoints_to_app) == 2 &&
      toset([for r in aws_route.endpoints_to_app : r.destination_cidr_block]) == toset(["10.10.0.0/16", "100.64.0.0/20"]) &&
      alltrue([for r in aws_route.endpoints_to_app : r.route_table_id == "rtb-endpoints"])
    )
    error_message = "The endpoint VPC routes back to every CIDR of the app VPC, secondary ones too: ${jsonencode(aws_route.endpoints_to_app)}"
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.endpoints : r.cidr_ipv4]) == toset(["10.10.0.0/16", "100.64.0.0/20"])
    error_message = "By default the endpoints admit every CIDR of the app VPC."
  }
}

run "scope_all_takes_every_route_table" {
  command = plan

  variables {
    app_route_table_scope = "all"
  }

  assert {
    condition     = toset([for r in aws_route.app_to_endpoints : r.route_table_id]) == toset(["rtb-private", "rtb-public"])
    error_message = "app_route_table_scope = \"all\" routes every route table."
  }
}

run "given_route_tables_are_used_as_given" {
  command = plan

  variables {
    app_route_table_ids = ["rtb-given-1", "rtb-given-2"]
  }

  assert {
    condition     = toset([for r in aws_route.app_to_endpoints : r.route_table_id]) == toset(["rtb-given-1", "rtb-given-2"])
    error_message = "Given route tables each get one route."
  }
}

run "allowed_cidrs_inside_a_secondary_cidr_are_accepted" {
  command = plan

  variables {
    app_allowed_cidrs = ["100.64.1.0/24"]
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.endpoints : r.cidr_ipv4]) == toset(["100.64.1.0/24"])
    error_message = "app_allowed_cidrs replaces the default."
  }
}

run "allowed_cidrs_outside_the_app_vpc_are_refused" {
  command = plan

  variables {
    app_allowed_cidrs = ["10.10.5.0/24", "192.168.0.0/24"]
  }

  expect_failures = [aws_vpc_security_group_ingress_rule.endpoints]
}

run "phz_mode_needs_dns_hostnames_in_the_app_vpc" {
  command = plan

  variables {
    dns_mode = "phz"
  }

  override_data {
    target = data.aws_vpc.app
    values = {
      cidr_block              = "10.10.0.0/16"
      cidr_block_associations = [{ association_id = "a", cidr_block = "10.10.0.0/16", state = "associated" }]
      enable_dns_support      = true
      enable_dns_hostnames    = false
    }
  }

  expect_failures = [data.aws_vpc.app]
}

run "resolver_mode_needs_only_dns_support_in_the_app_vpc" {
  command = plan

  override_data {
    target = data.aws_vpc.app
    values = {
      cidr_block              = "10.10.0.0/16"
      cidr_block_associations = [{ association_id = "a", cidr_block = "10.10.0.0/16", state = "associated" }]
      enable_dns_support      = true
      enable_dns_hostnames    = false
    }
  }

  assert {
    condition     = length(aws_vpc_endpoint.interface) == 1
    error_message = "Resolver mode plans in an app VPC without DNS hostnames."
  }
}

run "dns_support_off_in_the_app_vpc_is_refused" {
  command = plan

  override_data {
    target = data.aws_vpc.app
    values = {
      cidr_block              = "10.10.0.0/16"
      cidr_block_associations = [{ association_id = "a", cidr_block = "10.10.0.0/16", state = "associated" }]
      enable_dns_support      = false
      enable_dns_hostnames    = false
    }
  }

  expect_failures = [data.aws_vpc.app]
}

run "private_dns_needs_dns_hostnames_in_an_existing_endpoint_vpc" {
  command = plan

  variables {
    create_endpoint_vpc = false
    endpoint_vpc_id     = "vpc-0e0e0e0e"
    endpoint_subnet_ids = ["subnet-e1", "subnet-e2"]
  }

  override_data {
    target = data.aws_vpc.endpoint
    values = {
      cidr_block              = "10.20.0.0/16"
      cidr_block_associations = [{ association_id = "b", cidr_block = "10.20.0.0/16", state = "associated" }]
      enable_dns_support      = true
      enable_dns_hostnames    = false
    }
  }

  expect_failures = [data.aws_vpc.endpoint]
}

run "existing_endpoint_vpc_routes_from_its_route_tables" {
  command = plan

  variables {
    create_endpoint_vpc = false
    endpoint_vpc_id     = "vpc-0e0e0e0e"
    endpoint_subnet_ids = ["subnet-e1", "subnet-e2"]
  }

  assert {
    condition = (
      toset([for r in aws_route.endpoints_to_app : "${r.route_table_id} ${r.destination_cidr_block}"]) ==
      toset(["rtb-ep-1 10.10.0.0/16", "rtb-ep-1 100.64.0.0/20"])
    )
    error_message = "Every route table of an existing endpoint VPC routes back to every app CIDR: ${jsonencode(aws_route.endpoints_to_app)}"
  }

  assert {
    condition     = aws_vpc_endpoint.interface["bedrock-runtime"].subnet_ids == toset(["subnet-e1", "subnet-e2"])
    error_message = "Endpoints go into the given subnets."
  }
}

run "a_joining_deployment_creates_no_endpoint_and_only_its_own_rules" {
  command = plan

  variables {
    create_endpoint_vpc        = false
    endpoint_vpc_id            = "vpc-0e0e0e0e"
    create_endpoints           = false
    endpoint_security_group_id = "sg-0f1e5d"
  }

  override_data {
    target = data.aws_vpc_endpoint.joined["bedrock-runtime"]
    values = { id = "vpce-0f1e5d", network_interface_ids = ["eni-1", "eni-2"], dns_entry = [] }
  }

  assert {
    condition = (
      length(aws_vpc_endpoint.interface) == 0 && length(aws_vpc_endpoint.discovery) == 0 &&
      length(aws_security_group.endpoints) == 0
    )
    error_message = "Joining creates no endpoint and no group: another deployment owns them."
  }

  assert {
    condition = (
      toset([for r in aws_vpc_security_group_ingress_rule.endpoints : "${r.security_group_id} ${r.cidr_ipv4} ${r.from_port}-${r.to_port}"]) ==
      toset(["sg-0f1e5d 10.10.0.0/16 443-443", "sg-0f1e5d 100.64.0.0/20 443-443"])
    )
    error_message = "Joining adds a rule per app CIDR to the given group: ${jsonencode(aws_vpc_security_group_ingress_rule.endpoints)}"
  }

  assert {
    condition = (
      toset(keys(output.endpoint_ids)) == toset(["bedrock-runtime"]) && output.endpoint_ids["bedrock-runtime"] == "vpce-0f1e5d" &&
      data.aws_vpc_endpoint.joined["bedrock-runtime"].service_name == "com.amazonaws.ap-southeast-2.bedrock-runtime" &&
      data.aws_vpc_endpoint.joined["bedrock-runtime"].vpc_id == "vpc-0e0e0e0e" &&
      toset(output.resolver_source_object.services) == toset(["bedrock-runtime"])
    )
    error_message = "The joined endpoints are found by VPC and service: ${jsonencode(output.endpoint_ids)}"
  }

  assert {
    condition     = length(aws_vpc_peering_connection.this) == 1 && length(aws_route.endpoints_to_app) == 2
    error_message = "Joining still adds its own peering and its routes back."
  }
}

run "joining_needs_the_endpoints_group" {
  command = plan

  variables {
    create_endpoint_vpc = false
    endpoint_vpc_id     = "vpc-0e0e0e0e"
    create_endpoints    = false
  }

  expect_failures = [aws_vpc_security_group_ingress_rule.endpoints]
}
