# Cross-region peering (requested from the app side, accepted on the endpoint side) and the
# routes both ways.

resource "aws_vpc_peering_connection" "this" {
  provider = aws.app

  vpc_id      = local.app_vpc_id
  peer_vpc_id = local.endpoint_vpc_id
  peer_region = local.endpoint_region
  auto_accept = false
  tags        = merge(local.tags, { Name = "${var.name}-app-to-endpoints", Side = "requester" })
}

resource "aws_vpc_peering_connection_accepter" "this" {
  provider = aws.endpoint

  vpc_peering_connection_id = aws_vpc_peering_connection.this.id
  auto_accept               = true
  tags                      = merge(local.tags, { Name = "${var.name}-app-to-endpoints", Side = "accepter" })
}

resource "aws_vpc_peering_connection_options" "requester" {
  count    = var.peering_dns_resolution ? 1 : 0
  provider = aws.app

  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.this.id
  requester {
    allow_remote_vpc_dns_resolution = true
  }
}

resource "aws_vpc_peering_connection_options" "accepter" {
  count    = var.peering_dns_resolution ? 1 : 0
  provider = aws.endpoint

  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.this.id
  accepter {
    allow_remote_vpc_dns_resolution = true
  }
}

# --- Route tables: given, created here, or found ------------------------------------------

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
  # A route table is private when none of its routes leads to an internet gateway.
  found_app_route_tables = [
    for id, rt in data.aws_route_table.app : id
    if var.app_route_table_scope == "all" || !anytrue([for r in rt.routes : startswith(coalesce(r.gateway_id, "-"), "igw-")])
  ]
  app_route_table_ids = (
    var.create_app_vpc ? [aws_route_table.app[0].id] :
    var.app_route_table_ids != null ? var.app_route_table_ids :
    local.found_app_route_tables
  )
  endpoint_route_table_ids = (
    var.create_endpoint_vpc ? [aws_route_table.endpoint[0].id] :
    var.endpoint_route_table_ids != null ? var.endpoint_route_table_ids :
    data.aws_route_tables.endpoint[0].ids
  )
}

resource "aws_route" "app_to_endpoints" {
  for_each = toset(local.app_route_table_ids)
  provider = aws.app

  route_table_id            = each.value
  destination_cidr_block    = local.endpoint_vpc_cidr
  vpc_peering_connection_id = aws_vpc_peering_connection.this.id
  depends_on                = [aws_vpc_peering_connection_accepter.this]
}

resource "aws_route" "endpoints_to_app" {
  for_each = toset(local.endpoint_route_table_ids)
  provider = aws.endpoint

  route_table_id            = each.value
  destination_cidr_block    = local.app_vpc_cidr
  vpc_peering_connection_id = aws_vpc_peering_connection.this.id
  depends_on                = [aws_vpc_peering_connection_accepter.this]
}
