# One side's VPC, as the interconnect module creates it: private subnets over the given zones,
# their route tables, a default security group that allows nothing, and flow logs. The
# parent calls it once per side with that side's provider (a provider cannot vary per
# for_each instance, hence a module and not a for_each over the sides).

# The zones double as the check that the provider is in the region the parent was told: zone
# names carry the region, so a mismatch finds none.
data "aws_availability_zones" "this" {
  state = "available"

  filter {
    name   = "zone-name"
    values = var.availability_zones
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(var.availability_zones)
      error_message = "Zones ${join(", ", var.availability_zones)} are not all available through the aws.${var.side} provider: set ${var.side}_availability_zones, and check that ${var.side}_region (${var.region}) is the provider's region."
    }
  }
}

locals {
  # Route table key of each zone.
  zone_tables = { for az in var.availability_zones : az => var.route_tables == "per_zone" ? az : "all" }
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "this" {
  for_each = { for i, cidr in var.subnet_cidrs : tostring(i) => cidr }

  vpc_id                  = aws_vpc.this.id
  cidr_block              = each.value
  availability_zone       = var.availability_zones[tonumber(each.key) % length(var.availability_zones)]
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.subnet_name}-${each.key}" })

  # The zone check above runs first.
  depends_on = [data.aws_availability_zones.this]
}

resource "aws_route_table" "this" {
  for_each = toset(values(local.zone_tables))

  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.route_tables == "per_zone" ? "${var.subnet_name}-${each.key}" : var.name })
}

resource "aws_route_table_association" "this" {
  for_each = aws_subnet.this

  subnet_id      = each.value.id
  route_table_id = aws_route_table.this[local.zone_tables[each.value.availability_zone]].id
}

resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-deny" })
}

# --- Flow logs (the log group lives in the VPC's region: KMS keys are regional) --------------

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.flow_logs == null ? 0 : 1

  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = var.flow_logs.retention_days
  kms_key_id        = var.flow_logs.kms_key_arn
  tags              = var.tags
}

resource "aws_flow_log" "this" {
  count = var.flow_logs == null ? 0 : 1

  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  iam_role_arn    = var.flow_logs.role_arn
  log_destination = aws_cloudwatch_log_group.flow_logs[0].arn
  tags            = var.tags
}
