# Internet egress for an app VPC this module creates (app_nat_gateway): public subnets, an
# internet gateway, and one NAT gateway (or one per zone) that the private route tables use.
# The Bedrock traffic never takes it: the resolver answers those names with the endpoint IPs
# across the peering. It carries what the resolver tier needs from the app region when there
# are no app_interface_endpoints: image pulls, CloudWatch Logs, the ECS agent.

locals {
  nat_enabled = var.create_app_vpc && var.app_nat_gateway != "none"
  # Zone -> public subnet CIDR, in the order of the zones.
  public_subnets = local.nat_enabled ? { for i, cidr in var.app_public_subnet_cidrs : local.app_azs[i] => cidr if i < length(local.app_azs) } : {}
  # Zones that hold a NAT gateway, and the one each private route table uses.
  nat_azs = var.app_nat_gateway == "one_per_az" ? keys(local.public_subnets) : slice(keys(local.public_subnets), 0, min(1, length(local.public_subnets)))
  nat_for_az = {
    for az in local.app_azs : az => (contains(local.nat_azs, az) ? az : try(local.nat_azs[0], null))
  }
}

resource "aws_internet_gateway" "app" {
  count    = local.nat_enabled ? 1 : 0
  provider = aws.app

  vpc_id = module.app_vpc[0].vpc_id
  tags   = merge(local.tags, { Name = "${var.name}-app" })

  lifecycle {
    precondition {
      condition     = length(var.app_public_subnet_cidrs) >= (var.app_nat_gateway == "one_per_az" ? length(local.app_azs) : 1)
      error_message = "app_nat_gateway = \"${var.app_nat_gateway}\" needs app_public_subnet_cidrs: one public subnet (one per zone for \"one_per_az\")."
    }
  }
}

resource "aws_subnet" "app_public" {
  for_each = local.public_subnets
  provider = aws.app

  vpc_id            = module.app_vpc[0].vpc_id
  cidr_block        = each.value
  availability_zone = each.key
  # NAT gateways get Elastic IPs; nothing else lives here.
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-app-public-${each.key}" })
}

resource "aws_route_table" "app_public" {
  count    = local.nat_enabled ? 1 : 0
  provider = aws.app

  vpc_id = module.app_vpc[0].vpc_id
  tags   = merge(local.tags, { Name = "${var.name}-app-public" })
}

resource "aws_route" "app_public_internet" {
  count    = local.nat_enabled ? 1 : 0
  provider = aws.app

  route_table_id         = aws_route_table.app_public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.app[0].id
}

resource "aws_route_table_association" "app_public" {
  for_each = aws_subnet.app_public
  provider = aws.app

  subnet_id      = each.value.id
  route_table_id = aws_route_table.app_public[0].id
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)
  provider = aws.app

  domain     = "vpc"
  tags       = merge(local.tags, { Name = "${var.name}-app-nat-${each.key}" })
  depends_on = [aws_internet_gateway.app]
}

resource "aws_nat_gateway" "app" {
  for_each = toset(local.nat_azs)
  provider = aws.app

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.app_public[each.key].id
  tags          = merge(local.tags, { Name = "${var.name}-app-${each.key}" })
  depends_on    = [aws_internet_gateway.app]
}

resource "aws_route" "app_private_nat" {
  for_each = local.nat_enabled ? toset(local.app_azs) : toset([])
  provider = aws.app

  route_table_id         = module.app_vpc[0].route_table_ids[each.key]
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.app[local.nat_for_az[each.key]].id
}
