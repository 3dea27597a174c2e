# Interface endpoints in the endpoint VPC, reachable on 443 from the app CIDRs only.

resource "aws_security_group" "endpoints" {
  provider = aws.endpoint

  name        = "${var.name}-interface-endpoints"
  description = "Interface endpoints of ${var.name}: HTTPS from the app VPC only"
  vpc_id      = local.endpoint_vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-interface-endpoints" })

  ingress {
    description = "HTTPS from the app CIDRs across the peering"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = local.app_allowed_cidrs
  }
  # No egress rule: endpoints answer on established connections only.
}

resource "aws_vpc_endpoint" "interface" {
  for_each = var.services
  provider = aws.endpoint

  vpc_id              = local.endpoint_vpc_id
  service_name        = "com.amazonaws.${local.endpoint_region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = coalesce(each.value.subnet_ids, local.endpoint_subnet_ids)
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  ip_address_type     = each.value.ip_address_type
  policy              = each.value.policy
  tags                = merge(local.tags, { Name = "${var.name}-${each.key}", Service = each.key })
}

# Gateway endpoints serve the app VPC's own region (they do not work across peering).
resource "aws_vpc_endpoint" "app_gateway" {
  for_each = var.app_gateway_endpoints
  provider = aws.app

  vpc_id            = local.app_vpc_id
  service_name      = "com.amazonaws.${local.app_region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.app_route_table_ids
  tags              = merge(local.tags, { Name = "${var.name}-app-${each.key}" })
}
