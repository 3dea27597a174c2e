# Hub and spoke: one endpoint VPC in a network account holds the interface endpoints, and two
# app VPCs (the spokes) reach it, each over its own peering, each with its own resolver.
#
# - `hub` builds the endpoint VPC, its endpoints and the discovery role (in the network
#   account), and spoke A with its peering.
# - `spoke_b` joins what `hub` built (create_endpoints = false): its own peering, its routes
#   both ways, and its CIDR as a rule of its own on the endpoints' security group.
# - Each resolver discovers the endpoints as the discovery role (role_arn in its source), and
#   its task role may assume that role and nothing else.
#
# A later spoke is this example's spoke_b block again, in its own configuration, with the hub's
# outputs as inputs.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 7.0.0"
    }
  }
}

provider "aws" {
  alias  = "app"
  region = var.app_region
}

# The network account: credentials of its own, or a role assumed there.
provider "aws" {
  alias  = "network"
  region = var.endpoint_region

  dynamic "assume_role" {
    for_each = var.network_role_arn == null ? [] : [var.network_role_arn]
    content {
      role_arn = assume_role.value
    }
  }
}

data "aws_caller_identity" "app" {
  provider = aws.app
}

locals {
  # The resolvers' task roles (named by prefix: "<resolver name>-task-").
  task_roles = [
    for spoke in ["a", "b"] : "arn:aws:iam::${data.aws_caller_identity.app.account_id}:role/${var.name}-${spoke}-task-*"
  ]
}

module "hub" {
  source = "../../modules/interconnect"
  providers = {
    aws.app      = aws.app
    aws.endpoint = aws.network
  }

  name                     = "${var.name}-a"
  app_region               = var.app_region
  endpoint_region          = var.endpoint_region
  create_app_vpc           = true
  app_vpc_cidr             = var.spoke_a_cidr
  app_private_subnet_cidrs = [cidrsubnet(var.spoke_a_cidr, 8, 1), cidrsubnet(var.spoke_a_cidr, 8, 2)]
  app_public_subnet_cidrs  = [cidrsubnet(var.spoke_a_cidr, 8, 101), cidrsubnet(var.spoke_a_cidr, 8, 102)]
  app_nat_gateway          = "single"
  create_endpoint_vpc      = true
  endpoint_vpc_cidr        = var.endpoint_vpc_cidr
  endpoint_subnet_cidrs    = [cidrsubnet(var.endpoint_vpc_cidr, 8, 1), cidrsubnet(var.endpoint_vpc_cidr, 8, 2)]
  services                 = var.services
  discovery_role           = { trusted_role_arns = local.task_roles, external_id = var.external_id }
  tags                     = var.tags
}

module "spoke_b" {
  source = "../../modules/interconnect"
  providers = {
    aws.app      = aws.app
    aws.endpoint = aws.network
  }
  # Its lookups of the hub's endpoints wait for them.
  depends_on = [module.hub]

  name                       = "${var.name}-b"
  app_region                 = var.app_region
  endpoint_region            = var.endpoint_region
  create_app_vpc             = true
  app_vpc_cidr               = var.spoke_b_cidr
  app_private_subnet_cidrs   = [cidrsubnet(var.spoke_b_cidr, 8, 1), cidrsubnet(var.spoke_b_cidr, 8, 2)]
  app_public_subnet_cidrs    = [cidrsubnet(var.spoke_b_cidr, 8, 101), cidrsubnet(var.spoke_b_cidr, 8, 102)]
  app_nat_gateway            = "single"
  create_endpoint_vpc        = false
  endpoint_vpc_id            = module.hub.endpoint_vpc_id
  endpoint_vpc_cidrs         = module.hub.endpoint_vpc_cidrs
  endpoint_route_table_ids   = module.hub.endpoint_route_table_ids
  create_endpoints           = false
  endpoint_security_group_id = module.hub.endpoint_security_group_id
  services                   = var.services
  # The hub's flow logs already cover the endpoint VPC.
  tags = var.tags
}

module "resolver_a" {
  source    = "../../modules/resolver"
  providers = { aws = aws.app }

  name                = "${var.name}-a"
  region              = var.app_region
  mode                = "nlb-service"
  launch_type         = "EC2"
  vpc_id              = module.hub.app_vpc_id
  subnet_ids          = module.hub.app_subnet_ids
  client_cidrs        = module.hub.app_vpc_cidrs
  image               = var.image
  sources             = [module.hub.resolver_source_object]
  create_dhcp_options = true
  deletion_protection = var.deletion_protection
  tags                = var.tags
}

module "resolver_b" {
  source    = "../../modules/resolver"
  providers = { aws = aws.app }

  name         = "${var.name}-b"
  region       = var.app_region
  mode         = "nlb-service"
  launch_type  = "EC2"
  vpc_id       = module.spoke_b.app_vpc_id
  subnet_ids   = module.spoke_b.app_subnet_ids
  client_cidrs = module.spoke_b.app_vpc_cidrs
  image        = var.image
  # The same endpoints, found as the same role: the joining deployment's source names the
  # hub's endpoint VPC; the role is the hub's.
  sources = [merge(module.spoke_b.resolver_source_object, {
    role_arn    = module.hub.discovery_role_arn
    external_id = var.external_id
  })]
  create_dhcp_options = true
  deletion_protection = var.deletion_protection
  tags                = var.tags
}
