# Both VPCs: created here or looked up, so the rest of the module sees one shape.

locals {
  tags = merge(var.tags, { "managed-by" = "terraform", "module" = "bedrock-link/interconnect" })

  # Zones are pinned by name, so the set never grows by itself when AWS adds a zone.
  app_azs      = coalesce(var.app_availability_zones, ["${var.app_region}a", "${var.app_region}b"])
  endpoint_azs = coalesce(var.endpoint_availability_zones, ["${var.endpoint_region}a", "${var.endpoint_region}b"])

  # Private DNS on an interface endpoint, and a private hosted zone, both need the VPC's DNS
  # support and DNS hostnames; the resolver forwards to the VPC resolver, which needs support.
  endpoint_vpc_needs_dns_hostnames = var.create_endpoints && anytrue([for k, v in local.peering_services : v.private_dns_enabled])
  app_vpc_needs_dns_hostnames      = var.dns_mode == "phz" || length(var.app_interface_endpoints) + length(local.cross_region_services) > 0
}

locals {
  app_vpc_id      = var.create_app_vpc ? module.app_vpc[0].vpc_id : var.app_vpc_id
  endpoint_vpc_id = var.create_endpoint_vpc ? module.endpoint_vpc[0].vpc_id : var.endpoint_vpc_id

  # Every IPv4 CIDR of each VPC (an existing VPC may have secondary ones): routes and rules
  # cover all of them. Known at plan time, so they can key the routes.
  app_vpc_cidrs = var.create_app_vpc ? [var.app_vpc_cidr] : [
    for a in data.aws_vpc.app[0].cidr_block_associations : a.cidr_block if a.state == "associated"
  ]
  endpoint_vpc_cidrs = (
    var.create_endpoint_vpc ? [var.endpoint_vpc_cidr] :
    var.endpoint_vpc_cidrs != null ? var.endpoint_vpc_cidrs : [
      for a in data.aws_vpc.endpoint[0].cidr_block_associations : a.cidr_block if a.state == "associated"
    ]
  )

  endpoint_subnet_ids = var.create_endpoint_vpc ? [for s in module.endpoint_vpc[0].subnets : s.id] : var.endpoint_subnet_ids
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

module "app_vpc" {
  source    = "./modules/vpc"
  count     = var.create_app_vpc ? 1 : 0
  providers = { aws = aws.app }

  side               = "app"
  region             = var.app_region
  name               = "${var.name}-app"
  subnet_name        = "${var.name}-app-private"
  tags               = local.tags
  cidr               = var.app_vpc_cidr
  subnet_cidrs       = var.app_private_subnet_cidrs
  availability_zones = local.app_azs
  # One private route table per zone, so a NAT gateway per zone (app_nat_gateway =
  # "one_per_az") needs no other shape; the peering routes go on each.
  route_tables = "per_zone"
  flow_logs = var.flow_logs ? {
    role_arn       = one(aws_iam_role.flow_logs[*].arn)
    retention_days = var.flow_logs_retention_days
    kms_key_arn    = var.app_log_kms_key_arn
  } : null
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
      error_message = "The app VPC ${coalesce(var.app_vpc_id, "-")} has DNS hostnames (enableDnsHostnames) off: private hosted zones (dns_mode = \"phz\") and private DNS of app_interface_endpoints and cross_region_endpoint services need it. Turn it on."
    }
  }
}

# --- Endpoint VPC --------------------------------------------------------------------------

module "endpoint_vpc" {
  source    = "./modules/vpc"
  count     = var.create_endpoint_vpc ? 1 : 0
  providers = { aws = aws.endpoint }

  side               = "endpoint"
  region             = var.endpoint_region
  name               = "${var.name}-endpoints"
  subnet_name        = "${var.name}-endpoints"
  tags               = local.tags
  cidr               = var.endpoint_vpc_cidr
  subnet_cidrs       = var.endpoint_subnet_cidrs
  availability_zones = local.endpoint_azs
  route_tables       = "one"
  flow_logs = var.flow_logs ? {
    role_arn       = one(aws_iam_role.flow_logs[*].arn)
    retention_days = var.flow_logs_retention_days
    kms_key_arn    = var.endpoint_log_kms_key_arn
  } : null
}

data "aws_vpc" "endpoint" {
  count    = var.create_endpoint_vpc ? 0 : 1
  provider = aws.endpoint
  id       = var.endpoint_vpc_id

  lifecycle {
    precondition {
      condition     = var.endpoint_vpc_id != null && (length(var.endpoint_subnet_ids) > 0 || !var.create_endpoints)
      error_message = "endpoint_vpc_id and endpoint_subnet_ids are required when create_endpoint_vpc is false."
    }
    postcondition {
      condition     = !local.endpoint_vpc_needs_dns_hostnames || (self.enable_dns_support && self.enable_dns_hostnames)
      error_message = "The endpoint VPC ${coalesce(var.endpoint_vpc_id, "-")} needs DNS support and DNS hostnames on for endpoints with private_dns_enabled: turn both on, or set private_dns_enabled = false on those services."
    }
  }
}
