# One side's VPC on its own. Plans only, against a mock provider: nothing leaves this machine.
# Route tables and the log group get fixed ids (override_during = plan) so assertions can
# follow references, not just counts.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["ap-southeast-2a", "ap-southeast-2b"] }
  }
}

override_resource {
  target          = aws_route_table.this["ap-southeast-2a"]
  override_during = plan
  values          = { id = "rtb-a" }
}
override_resource {
  target          = aws_route_table.this["ap-southeast-2b"]
  override_during = plan
  values          = { id = "rtb-b" }
}
override_resource {
  target          = aws_route_table.this["all"]
  override_during = plan
  values          = { id = "rtb-all" }
}
override_resource {
  target          = aws_cloudwatch_log_group.flow_logs
  override_during = plan
  values          = { arn = "arn:aws:logs:ap-southeast-2:123456789012:log-group:/vpc/t-endpoints/flow-logs" }
}

variables {
  side               = "endpoint"
  region             = "ap-southeast-2"
  name               = "t-endpoints"
  subnet_name        = "t-endpoints"
  tags               = { team = "dns" }
  cidr               = "10.20.0.0/16"
  subnet_cidrs       = ["10.20.1.0/24", "10.20.2.0/24", "10.20.3.0/24"]
  availability_zones = ["ap-southeast-2a", "ap-southeast-2b"]
  route_tables       = "per_zone"
}

run "vpc_resolves_names" {
  command = plan

  assert {
    condition     = aws_vpc.this.cidr_block == "10.20.0.0/16" && aws_vpc.this.enable_dns_support && aws_vpc.this.enable_dns_hostnames
    error_message = "The VPC needs DNS support (the VPC resolver) and DNS hostnames (private DNS of interface endpoints, private hosted zones)."
  }

  assert {
    condition     = aws_vpc.this.tags == tomap({ team = "dns", Name = "t-endpoints" }) && aws_default_security_group.this.tags["Name"] == "t-endpoints-default-deny"
    error_message = "The VPC and its default security group are named after name: ${jsonencode(aws_vpc.this.tags)}"
  }
}

run "subnets_spread_over_the_zones_each_with_its_zones_route_table" {
  command = plan

  assert {
    condition     = [for s in output.subnets : s.availability_zone] == ["ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2a"]
    error_message = "The i-th subnet goes in zone i modulo the zones: ${jsonencode(output.subnets)}"
  }

  assert {
    condition = (
      output.route_table_ids == { "ap-southeast-2a" = "rtb-a", "ap-southeast-2b" = "rtb-b" } &&
      { for k, a in aws_route_table_association.this : k => a.route_table_id } == { "0" = "rtb-a", "1" = "rtb-b", "2" = "rtb-a" }
    )
    error_message = "One route table per zone, and each subnet on its zone's: ${jsonencode({ for k, a in aws_route_table_association.this : k => a.route_table_id })}"
  }

  assert {
    condition     = [for k, s in aws_subnet.this : s.tags["Name"]] == ["t-endpoints-0", "t-endpoints-1", "t-endpoints-2"] && alltrue([for s in aws_subnet.this : !s.map_public_ip_on_launch])
    error_message = "Subnets are private and named <subnet_name>-<position>."
  }
}

run "one_route_table_for_every_subnet" {
  command = plan

  variables {
    route_tables = "one"
  }

  assert {
    condition = (
      output.route_table_ids == { all = "rtb-all" } &&
      alltrue([for a in aws_route_table_association.this : a.route_table_id == "rtb-all"]) &&
      length(aws_route_table_association.this) == 3
    )
    error_message = "route_tables = \"one\" puts every subnet on one table: ${jsonencode(output.route_table_ids)}"
  }
}

run "zones_the_provider_lacks_are_refused" {
  command = plan

  override_data {
    target = data.aws_availability_zones.this
    values = { names = ["ap-southeast-2a"] }
  }

  expect_failures = [data.aws_availability_zones.this]
}

run "flow_logs_carry_all_traffic_to_the_vpcs_log_group" {
  command = plan

  variables {
    flow_logs = {
      role_arn       = "arn:aws:iam::123456789012:role/t-flowlogs"
      retention_days = 30
      kms_key_arn    = "arn:aws:kms:ap-southeast-2:123456789012:key/k"
    }
  }

  assert {
    condition = (
      aws_cloudwatch_log_group.flow_logs[0].name == "/vpc/t-endpoints/flow-logs" &&
      aws_cloudwatch_log_group.flow_logs[0].retention_in_days == 30 &&
      output.flow_log_group.kms_key_id == "arn:aws:kms:ap-southeast-2:123456789012:key/k"
    )
    error_message = "The log group is /vpc/<name>/flow-logs with the given retention and key: ${jsonencode(output.flow_log_group)}"
  }

  assert {
    condition = (
      aws_flow_log.this[0].traffic_type == "ALL" &&
      aws_flow_log.this[0].iam_role_arn == "arn:aws:iam::123456789012:role/t-flowlogs" &&
      aws_flow_log.this[0].log_destination == "arn:aws:logs:ap-southeast-2:123456789012:log-group:/vpc/t-endpoints/flow-logs"
    )
    error_message = "The flow log sends all traffic to the VPC's log group with the given role."
  }
}

run "no_flow_logs_unless_asked" {
  command = plan

  assert {
    condition     = length(aws_flow_log.this) == 0 && length(aws_cloudwatch_log_group.flow_logs) == 0 && output.flow_log_group == null
    error_message = "flow_logs = null creates no log group and no flow log."
  }
}
