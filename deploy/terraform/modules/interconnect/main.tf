# Both VPCs: created here or looked up, so the rest of the module sees one shape.

locals {
  tags = merge(var.tags, { "managed-by" = "terraform", "module" = "bedrock-link/interconnect" })

  # Zones are pinned by name, so the set never grows by itself when AWS adds a zone.
  app_azs      = coalesce(var.app_availability_zones, ["${var.app_region}a", "${var.app_region}b"])
  endpoint_azs = coalesce(var.endpoint_availability_zones, ["${var.endpoint_region}a", "${var.endpoint_region}b"])

  # Private DNS on an interface endpoint, and a private hosted zone, both need the VPC's DNS
  # support and DNS hostnames; the resolver forwards to the VPC resolver, which needs support.
  endpoint_vpc_needs_dns_hostnames = anytrue([for k, v in var.services : v.private_dns_enabled])
  app_vpc_needs_dns_hostnames      = var.dns_mode == "phz" || length(var.app_interface_endpoints) > 0
}

# The zones double as the check that each provider is in the region the module was told:
# zone names carry the region, so a mismatch finds none.
data "aws_availability_zones" "app" {
  count    = var.create_app_vpc ? 1 : 0
  provider = aws.app
  state    = "available"

  filter {
    name   = "zone-name"
    values = local.app_azs
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(local.app_azs)
      error_message = "Zones ${join(", ", local.app_azs)} are not all available through the aws.app provider: set app_availability_zones, and check that app_region (${var.app_region}) is the provider's region."
    }
  }
}

data "aws_availability_zones" "endpoint" {
  count    = var.create_endpoint_vpc ? 1 : 0
  provider = aws.endpoint
  state    = "available"

  filter {
    name   = "zone-name"
    values = local.endpoint_azs
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(local.endpoint_azs)
      error_message = "Zones ${join(", ", local.endpoint_azs)} are not all available through the aws.endpoint provider: set endpoint_availability_zones, and check that endpoint_region (${var.endpoint_region}) is the provider's region."
    }
  }
}

locals {
  app_vpc_id      = var.create_app_vpc ? aws_vpc.app[0].id : var.app_vpc_id
  endpoint_vpc_id = var.create_endpoint_vpc ? aws_vpc.endpoint[0].id : var.endpoint_vpc_id

  # Every IPv4 CIDR of each VPC (an existing VPC may have secondary ones): routes and rules
  # cover all of them. Known at plan time, so they can key the routes.
  app_vpc_cidrs = var.create_app_vpc ? [var.app_vpc_cidr] : [
    for a in data.aws_vpc.app[0].cidr_block_associations : a.cidr_block if a.state == "associated"
  ]
  endpoint_vpc_cidrs = var.create_endpoint_vpc ? [var.endpoint_vpc_cidr] : [
    for a in data.aws_vpc.endpoint[0].cidr_block_associations : a.cidr_block if a.state == "associated"
  ]

  endpoint_subnet_ids = var.create_endpoint_vpc ? [for s in aws_subnet.endpoint : s.id] : var.endpoint_subnet_ids
  app_allowed_cidrs   = coalesce(var.app_allowed_cidrs, local.app_vpc_cidrs)

  # A CIDR lies inside another when its network address, masked to the other's prefix length,
  # is the other's network address, and its prefix is at least as long.
  app_allowed_outside = [
    for c in local.app_allowed_cidrs : c
    if !anytrue([
      for v in local.app_vpc_cidrs :
      tonumber(split("/", c)[1]) >= tonumber(split("/", v)[1]) &&
      cidrhost("${cidrhost(c, 0)}/${split("/", v)[1]}", 0) == cidrhost(v, 0)
    ])
  ]
}

# --- App VPC -------------------------------------------------------------------------------

resource "aws_vpc" "app" {
  count    = var.create_app_vpc ? 1 : 0
  provider = aws.app

  cidr_block           = var.app_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = "${var.name}-app" })
}

data "aws_vpc" "app" {
  count    = var.create_app_vpc ? 0 : 1
  provider = aws.app
  id       = var.app_vpc_id

  lifecycle {
    precondition {
      condition     = var.app_vpc_id != null
      error_message = "app_vpc_id is required when create_app_vpc is false."
    }
    postcondition {
      condition     = self.enable_dns_support
      error_message = "The app VPC ${coalesce(var.app_vpc_id, "-")} has DNS support (enableDnsSupport) off: the VPC resolver, which bedrock-link forwards to and private hosted zones answer through, does not serve it. Turn it on."
    }
    postcondition {
      condition     = !local.app_vpc_needs_dns_hostnames || self.enable_dns_hostnames
      error_message = "The app VPC ${coalesce(var.app_vpc_id, "-")} has DNS hostnames (enableDnsHostnames) off: private hosted zones (dns_mode = \"phz\") and private DNS of app_interface_endpoints need it. Turn it on."
    }
  }
}

resource "aws_subnet" "app" {
  for_each = var.create_app_vpc ? { for i, cidr in var.app_private_subnet_cidrs : tostring(i) => cidr } : {}
  provider = aws.app

  vpc_id                  = aws_vpc.app[0].id
  cidr_block              = each.value
  availability_zone       = local.app_azs[tonumber(each.key) % length(local.app_azs)]
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-app-private-${each.key}" })

  # The zone check above runs first.
  depends_on = [data.aws_availability_zones.app]
}

# One private route table per zone, so a NAT gateway per zone (app_nat_gateway =
# "one_per_az") needs no other shape; the peering routes go on each.
resource "aws_route_table" "app" {
  for_each = var.create_app_vpc ? toset(local.app_azs) : toset([])
  provider = aws.app

  vpc_id = aws_vpc.app[0].id
  tags   = merge(local.tags, { Name = "${var.name}-app-private-${each.key}" })
}

resource "aws_route_table_association" "app" {
  for_each = aws_subnet.app
  provider = aws.app

  subnet_id      = each.value.id
  route_table_id = aws_route_table.app[local.app_azs[tonumber(each.key) % length(local.app_azs)]].id
}

# The default security group of a VPC we create allows nothing.
resource "aws_default_security_group" "app" {
  count    = var.create_app_vpc ? 1 : 0
  provider = aws.app

  vpc_id = aws_vpc.app[0].id
  tags   = merge(local.tags, { Name = "${var.name}-app-default-deny" })
}

# --- Endpoint VPC --------------------------------------------------------------------------

resource "aws_vpc" "endpoint" {
  count    = var.create_endpoint_vpc ? 1 : 0
  provider = aws.endpoint

  cidr_block           = var.endpoint_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = "${var.name}-endpoints" })

  lifecycle {
    # The VPCs this module creates are IPv4 only.
    precondition {
      condition     = alltrue([for k, v in var.services : v.ip_address_type == "ipv4"])
      error_message = "ip_address_type \"dualstack\" needs IPv6 in the endpoint subnets, and the endpoint VPC this module creates is IPv4 only: use an existing dual-stack endpoint VPC (create_endpoint_vpc = false) for dual-stack endpoints."
    }
  }
}

data "aws_vpc" "endpoint" {
  count    = var.create_endpoint_vpc ? 0 : 1
  provider = aws.endpoint
  id       = var.endpoint_vpc_id

  lifecycle {
    precondition {
      condition     = var.endpoint_vpc_id != null && length(var.endpoint_subnet_ids) > 0
      error_message = "endpoint_vpc_id and endpoint_subnet_ids are required when create_endpoint_vpc is false."
    }
    postcondition {
      condition     = !local.endpoint_vpc_needs_dns_hostnames || (self.enable_dns_support && self.enable_dns_hostnames)
      error_message = "The endpoint VPC ${coalesce(var.endpoint_vpc_id, "-")} needs DNS support and DNS hostnames on for endpoints with private_dns_enabled: turn both on, or set private_dns_enabled = false on those services."
    }
  }
}

resource "aws_subnet" "endpoint" {
  for_each = var.create_endpoint_vpc ? { for i, cidr in var.endpoint_subnet_cidrs : tostring(i) => cidr } : {}
  provider = aws.endpoint

  vpc_id                  = aws_vpc.endpoint[0].id
  cidr_block              = each.value
  availability_zone       = local.endpoint_azs[tonumber(each.key) % length(local.endpoint_azs)]
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-endpoints-${each.key}" })

  # The zone check above runs first.
  depends_on = [data.aws_availability_zones.endpoint]
}

resource "aws_route_table" "endpoint" {
  count    = var.create_endpoint_vpc ? 1 : 0
  provider = aws.endpoint

  vpc_id = aws_vpc.endpoint[0].id
  tags   = merge(local.tags, { Name = "${var.name}-endpoints" })
}

resource "aws_route_table_association" "endpoint" {
  for_each = aws_subnet.endpoint
  provider = aws.endpoint

  subnet_id      = each.value.id
  route_table_id = aws_route_table.endpoint[0].id
}

resource "aws_default_security_group" "endpoint" {
  count    = var.create_endpoint_vpc ? 1 : 0
  provider = aws.endpoint

  vpc_id = aws_vpc.endpoint[0].id
  tags   = merge(local.tags, { Name = "${var.name}-endpoints-default-deny" })
}
