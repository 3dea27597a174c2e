# Interface endpoints in the endpoint VPC, reachable on 443 from the app CIDRs only (created
# here, or joined: created by another deployment); the discovery endpoint (ec2) for the
# resolver; the app region's own endpoints, and cross-region ones, in the app VPC.

locals {
  # Services reached in the endpoint VPC, and services with native cross-region PrivateLink
  # (an endpoint in the app VPC itself, answered by its own private DNS).
  peering_services      = { for k, v in var.services : k => v if v.connectivity == "peering" }
  cross_region_services = { for k, v in var.services : k => v if v.connectivity == "cross_region_endpoint" }
}

resource "aws_security_group" "endpoints" {
  count    = var.create_endpoints ? 1 : 0
  provider = aws.endpoint

  # A prefix, and a new group before the old one goes: a rename never waits on ENIs that
  # still hold the old group, and two deployments never collide.
  name_prefix = "${var.name}-endpoints-"
  description = "Interface endpoints of ${var.name}: HTTPS from the app VPC only"
  vpc_id      = local.endpoint_vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-interface-endpoints" })

  # Ingress is rules of their own (below): a second deployment joining these endpoints adds
  # its CIDRs the same way, and no deployment rewrites another's.
  # No egress rule (AWS's default allow-all is removed): endpoints answer on established
  # connections only.
  egress = []

  lifecycle {
    create_before_destroy = true
    # The VPCs this module creates are IPv4 only.
    precondition {
      condition     = !var.create_endpoint_vpc || alltrue([for k, v in var.services : v.ip_address_type == "ipv4"])
      error_message = "ip_address_type \"dualstack\" needs IPv6 in the endpoint subnets, and the endpoint VPC this module creates is IPv4 only: use an existing dual-stack endpoint VPC (create_endpoint_vpc = false) for dual-stack endpoints."
    }
  }
}

locals {
  endpoint_security_group_id = var.create_endpoints ? aws_security_group.endpoints[0].id : var.endpoint_security_group_id
}

# One rule per app CIDR, owned by this deployment.
resource "aws_vpc_security_group_ingress_rule" "endpoints" {
  for_each = toset(local.app_allowed_cidrs)
  provider = aws.endpoint

  security_group_id = local.endpoint_security_group_id
  description       = "HTTPS from ${var.name}'s app VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = merge(local.tags, { Name = "${var.name}-https-${each.value}" })

  lifecycle {
    precondition {
      condition     = var.create_endpoints || var.endpoint_security_group_id != null
      error_message = "create_endpoints = false joins endpoints another deployment created: give their security group as endpoint_security_group_id (that deployment's endpoint_security_group_id output)."
    }
    precondition {
      condition     = length(local.app_allowed_outside) == 0
      error_message = "app_allowed_cidrs ${join(", ", local.app_allowed_outside)} lie outside the app VPC's CIDRs (${join(", ", local.app_vpc_cidrs)}). VPC peering carries only traffic from the peered VPCs' own CIDRs, so those clients could never get a reply; add the CIDR to the app VPC, or leave it out."
    }
  }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = var.create_endpoints ? local.peering_services : {}
  provider = aws.endpoint

  vpc_id              = local.endpoint_vpc_id
  service_name        = "com.amazonaws.${var.endpoint_region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = coalesce(each.value.subnet_ids, local.endpoint_subnet_ids)
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = each.value.private_dns_enabled
  ip_address_type     = each.value.ip_address_type
  policy              = each.value.policy
  tags                = merge(local.tags, { Name = "${var.name}-${each.key}", Service = each.key })

  lifecycle {
    # PHZ mode aliases to the regional DNS name, and `bedrock-link phz plan` picks it the
    # same way: the entry whose first label is <endpoint id>-<suffix>, with no zone in it.
    postcondition {
      condition     = length([for d in self.dns_entry : d if can(regex("^${self.id}-[0-9a-z]+\\.", d.dns_name))]) == 1
      error_message = "The endpoint for ${each.key} reports no single regional DNS name among its DNS entries (${join(", ", [for d in self.dns_entry : d.dns_name])})."
    }
  }
}

# A joining deployment's endpoints: the ones another deployment created in that VPC.
data "aws_vpc_endpoint" "joined" {
  for_each = var.create_endpoints ? {} : local.peering_services
  provider = aws.endpoint

  vpc_id       = local.endpoint_vpc_id
  service_name = "com.amazonaws.${var.endpoint_region}.${each.key}"
  state        = "available"
}

locals {
  # Every endpoint served across the connection, created or joined.
  interface_endpoints = merge(
    { for k, e in aws_vpc_endpoint.interface : k => { id = e.id, network_interface_ids = e.network_interface_ids, dns_entry = e.dns_entry } },
    { for k, e in data.aws_vpc_endpoint.joined : k => { id = e.id, network_interface_ids = e.network_interface_ids, dns_entry = e.dns_entry } },
  )
  # The regional DNS entry (name and hosted zone) of each interface endpoint.
  regional_dns = {
    for k, e in local.interface_endpoints : k => one([for d in e.dns_entry : d if can(regex("^${e.id}-[0-9a-z]+\\.", d.dns_name))])
  }
}

# Discovery across the peering: the endpoint region's EC2 API as an interface endpoint in the
# endpoint VPC. Private DNS stays off (the endpoint VPC's own EC2 calls keep their path);
# bedrock-link calls it by its regional DNS name, which resolves publicly to these ENIs.
resource "aws_vpc_endpoint" "discovery" {
  count    = var.dns_mode == "resolver" && var.discovery_endpoint && var.create_endpoints ? 1 : 0
  provider = aws.endpoint

  vpc_id              = local.endpoint_vpc_id
  service_name        = "com.amazonaws.${var.endpoint_region}.ec2"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.endpoint_subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = false
  tags                = merge(local.tags, { Name = "${var.name}-discovery-ec2", Service = "ec2" })

  lifecycle {
    postcondition {
      condition     = length([for d in self.dns_entry : d if can(regex("^${self.id}-[0-9a-z]+\\.", d.dns_name))]) == 1
      error_message = "The discovery endpoint reports no single regional DNS name among its DNS entries (${join(", ", [for d in self.dns_entry : d.dns_name])})."
    }
  }
}

# Joining: the discovery endpoint the first deployment created.
data "aws_vpc_endpoint" "discovery" {
  count    = var.dns_mode == "resolver" && var.discovery_endpoint && !var.create_endpoints ? 1 : 0
  provider = aws.endpoint

  vpc_id       = local.endpoint_vpc_id
  service_name = "com.amazonaws.${var.endpoint_region}.ec2"
  state        = "available"
}

locals {
  discovery = one(concat(aws_vpc_endpoint.discovery, data.aws_vpc_endpoint.discovery))
  discovery_endpoint_url = try(
    "https://${one([for d in local.discovery.dns_entry : d.dns_name if can(regex("^${local.discovery.id}-[0-9a-z]+\\.", d.dns_name))])}",
    null,
  )
}

# --- The app region's own services, in the app VPC ------------------------------------------

locals {
  app_endpoint_subnet_ids = var.create_app_vpc ? [
    # One subnet per zone: an interface endpoint takes at most one subnet per zone.
    for az in local.app_azs : [for s in module.app_vpc[0].subnets : s.id if s.availability_zone == az][0]
    if anytrue([for s in module.app_vpc[0].subnets : s.availability_zone == az])
  ] : var.app_endpoint_subnet_ids
}

resource "aws_security_group" "app_endpoints" {
  count    = length(var.app_interface_endpoints) + length(local.cross_region_services) > 0 ? 1 : 0
  provider = aws.app

  name_prefix = "${var.name}-app-endpoints-"
  description = "App-region interface endpoints of ${var.name}: HTTPS from the app VPC"
  vpc_id      = local.app_vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-app-endpoints" })

  ingress {
    description = "HTTPS from the app VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = local.app_vpc_cidrs
  }

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = length(local.app_endpoint_subnet_ids) > 0
      error_message = "app_interface_endpoints and cross_region_endpoint services in an existing app VPC need app_endpoint_subnet_ids."
    }
  }
}

resource "aws_vpc_endpoint" "app_interface" {
  for_each = var.app_interface_endpoints
  provider = aws.app

  vpc_id              = local.app_vpc_id
  service_name        = "com.amazonaws.${var.app_region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.app_endpoint_subnet_ids
  security_group_ids  = [aws_security_group.app_endpoints[0].id]
  private_dns_enabled = true
  tags                = merge(local.tags, { Name = "${var.name}-app-${each.key}", Service = each.key })
}

# Native cross-region PrivateLink: the endpoint region's service, reached from an endpoint in
# the app VPC. Its private DNS answers the service's name in the app VPC, so bedrock-link and
# PHZ mode leave the service out.
resource "aws_vpc_endpoint" "cross_region" {
  for_each = local.cross_region_services
  provider = aws.app

  vpc_id              = local.app_vpc_id
  service_name        = "com.amazonaws.${var.endpoint_region}.${each.key}"
  service_region      = var.endpoint_region
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.app_endpoint_subnet_ids
  security_group_ids  = [aws_security_group.app_endpoints[0].id]
  private_dns_enabled = true
  ip_address_type     = each.value.ip_address_type
  policy              = each.value.policy
  tags                = merge(local.tags, { Name = "${var.name}-${each.key}-${var.endpoint_region}", Service = each.key })
}

# Gateway endpoints serve the app VPC's own region (they do not work across peering).
resource "aws_vpc_endpoint" "app_gateway" {
  for_each = var.app_gateway_endpoints
  provider = aws.app

  vpc_id            = local.app_vpc_id
  service_name      = "com.amazonaws.${var.app_region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = values(local.app_route_tables)
  tags              = merge(local.tags, { Name = "${var.name}-app-${each.key}" })
}
