# Cross-region peering (requested from the app side, accepted on the endpoint side), or the
# caller's transit gateways, and the routes both ways.

locals {
  peered = var.connectivity == "peering"
}

# The account of the endpoint side: the peering names it, so that an endpoint VPC in another
# account (a second provider with that account's credentials) can be peered. Without it AWS
# looks for the peer VPC in the requester's own account.
data "aws_caller_identity" "endpoint" {
  provider = aws.endpoint
}

resource "aws_vpc_peering_connection" "this" {
  count    = local.peered ? 1 : 0
  provider = aws.app

  vpc_id        = local.app_vpc_id
  peer_vpc_id   = local.endpoint_vpc_id
  peer_region   = var.endpoint_region
  peer_owner_id = data.aws_caller_identity.endpoint.account_id
  auto_accept   = false
  tags          = merge(local.tags, { Name = "${var.name}-app-to-endpoints", Side = "requester" })

  lifecycle {
    precondition {
      condition     = length(local.app_route_tables) > 0
      error_message = "No route table of the app VPC would get a route to the endpoint VPC: set app_route_table_ids, or app_route_table_scope = \"all\"."
    }
  }
}

resource "aws_vpc_peering_connection_accepter" "this" {
  count    = local.peered ? 1 : 0
  provider = aws.endpoint

  vpc_peering_connection_id = aws_vpc_peering_connection.this[0].id
  auto_accept               = true
  tags                      = merge(local.tags, { Name = "${var.name}-app-to-endpoints", Side = "accepter" })
}

resource "aws_vpc_peering_connection_options" "requester" {
  count    = local.peered && var.peering_dns_resolution ? 1 : 0
  provider = aws.app

  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.this[0].id
  requester {
    allow_remote_vpc_dns_resolution = true
  }
}

resource "aws_vpc_peering_connection_options" "accepter" {
  count    = local.peered && var.peering_dns_resolution ? 1 : 0
  provider = aws.endpoint

  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.this[0].id
  accepter {
    allow_remote_vpc_dns_resolution = true
  }
}

# --- Route tables: created here, given, or found --------------------------------------------
#
# Each is keyed by something known when planning (a zone, a position in the given list, or
# the id of a table that already exists), never by the id of a table created in the same run.

data "aws_route_tables" "app" {
  count    = var.create_app_vpc || var.app_route_table_ids != null ? 0 : 1
  provider = aws.app
  vpc_id   = var.app_vpc_id
}

data "aws_route_table" "app" {
  for_each       = toset(try(data.aws_route_tables.app[0].ids, []))
  provider       = aws.app
  route_table_id = each.value
}

data "aws_route_tables" "endpoint" {
  count    = var.create_endpoint_vpc || var.endpoint_route_table_ids != null ? 0 : 1
  provider = aws.endpoint
  vpc_id   = var.endpoint_vpc_id
}

locals {
  # A found route table is private when none of its routes leads to an internet gateway.
  found_app_route_tables = {
    for id, rt in data.aws_route_table.app : id => id
    if var.app_route_table_scope == "all" || !anytrue([for r in rt.routes : startswith(coalesce(r.gateway_id, "-"), "igw-")])
  }
  app_route_tables = (
    var.create_app_vpc ? module.app_vpc[0].route_table_ids :
    var.app_route_table_ids != null ? { for i, id in var.app_route_table_ids : "given-${i}" => id } :
    local.found_app_route_tables
  )
  endpoint_route_tables = (
    var.create_endpoint_vpc ? { created = module.endpoint_vpc[0].route_table_ids["all"] } :
    var.endpoint_route_table_ids != null ? { for i, id in var.endpoint_route_table_ids : "given-${i}" => id } :
    { for id in data.aws_route_tables.endpoint[0].ids : id => id }
  )

  # One route per (route table, CIDR of the other VPC), so secondary CIDRs are reachable and
  # reply traffic to every app CIDR finds its way back.
  app_routes = merge([
    for rt_key, rt in local.app_route_tables : {
      for cidr in local.endpoint_vpc_cidrs : "${rt_key} ${cidr}" => { route_table_id = rt, cidr = cidr }
    }
  ]...)
  endpoint_routes = merge([
    for rt_key, rt in local.endpoint_route_tables : {
      for cidr in local.app_vpc_cidrs : "${rt_key} ${cidr}" => { route_table_id = rt, cidr = cidr }
    }
  ]...)
}

resource "aws_route" "app_to_endpoints" {
  for_each = local.app_routes
  provider = aws.app

  route_table_id            = each.value.route_table_id
  destination_cidr_block    = each.value.cidr
  vpc_peering_connection_id = local.peered ? aws_vpc_peering_connection.this[0].id : null
  transit_gateway_id        = local.peered ? null : var.app_transit_gateway_id
  depends_on                = [aws_vpc_peering_connection_accepter.this]

  lifecycle {
    precondition {
      condition     = local.peered || var.app_transit_gateway_id != null
      error_message = "connectivity = \"transit_gateway\" needs app_transit_gateway_id (the app VPC's routes to the endpoint VPC point at it)."
    }
  }
}

resource "aws_route" "endpoints_to_app" {
  for_each = local.endpoint_routes
  provider = aws.endpoint

  route_table_id            = each.value.route_table_id
  destination_cidr_block    = each.value.cidr
  vpc_peering_connection_id = local.peered ? aws_vpc_peering_connection.this[0].id : null
  transit_gateway_id        = local.peered ? null : var.endpoint_transit_gateway_id
  depends_on                = [aws_vpc_peering_connection_accepter.this]

  lifecycle {
    precondition {
      condition     = local.peered || var.endpoint_transit_gateway_id != null
      error_message = "connectivity = \"transit_gateway\" needs endpoint_transit_gateway_id (the endpoint VPC's routes back to the app VPC point at it)."
    }
  }
}
