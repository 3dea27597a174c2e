# Both VPCs: created here or looked up, so the rest of the module sees one shape.

data "aws_region" "app" {
  provider = aws.app
}

data "aws_region" "endpoint" {
  provider = aws.endpoint
}

# Availability zones are pinned by name, so the set never grows by itself when AWS adds a zone.
locals {
  app_azs      = coalesce(var.app_availability_zones, ["${data.aws_region.app.name}a", "${data.aws_region.app.name}b"])
  endpoint_azs = coalesce(var.endpoint_availability_zones, ["${data.aws_region.endpoint.name}a", "${data.aws_region.endpoint.name}b"])
}

data "aws_availability_zones" "app" {
  provider = aws.app
  state    = "available"

  filter {
    name   = "zone-name"
    values = local.app_azs
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(local.app_azs)
      error_message = "Not every zone of app_availability_zones is available to this account; set app_availability_zones."
    }
  }
}

data "aws_availability_zones" "endpoint" {
  provider = aws.endpoint
  state    = "available"

  filter {
    name   = "zone-name"
    values = local.endpoint_azs
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(local.endpoint_azs)
      error_message = "Not every zone of endpoint_availability_zones is available to this account; set endpoint_availability_zones."
    }
  }
}

locals {
  tags            = merge(var.tags, { "managed-by" = "terraform", "module" = "bedrock-link/interconnect" })
  app_region      = data.aws_region.app.name
  endpoint_region = data.aws_region.endpoint.name

  app_vpc_id        = var.create_app_vpc ? aws_vpc.app[0].id : var.app_vpc_id
  app_vpc_cidr      = var.create_app_vpc ? aws_vpc.app[0].cidr_block : data.aws_vpc.app[0].cidr_block
  endpoint_vpc_id   = var.create_endpoint_vpc ? aws_vpc.endpoint[0].id : var.endpoint_vpc_id
  endpoint_vpc_cidr = var.create_endpoint_vpc ? aws_vpc.endpoint[0].cidr_block : data.aws_vpc.endpoint[0].cidr_block

  endpoint_subnet_ids = var.create_endpoint_vpc ? [for s in aws_subnet.endpoint : s.id] : var.endpoint_subnet_ids
  app_allowed_cidrs   = coalesce(var.app_allowed_cidrs, [local.app_vpc_cidr])
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
}

resource "aws_route_table" "app" {
  count    = var.create_app_vpc ? 1 : 0
  provider = aws.app

  vpc_id = aws_vpc.app[0].id
  tags   = merge(local.tags, { Name = "${var.name}-app-private" })
}

resource "aws_route_table_association" "app" {
  for_each = aws_subnet.app
  provider = aws.app

  subnet_id      = each.value.id
  route_table_id = aws_route_table.app[0].id
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
