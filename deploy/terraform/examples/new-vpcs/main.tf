# Two new VPCs: the app VPC in ap-southeast-6 (New Zealand) and an endpoint VPC in
# ap-southeast-2 (Sydney) with the Bedrock interface endpoints, peered; bedrock-link runs
# as an ECS service on Fargate behind an internal NLB, and a DHCP option set makes every ENI
# in the app VPC (Fargate tasks included) resolve through it.

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

provider "aws" {
  alias  = "endpoint"
  region = var.endpoint_region
}

module "interconnect" {
  source = "../../modules/interconnect"
  providers = {
    aws.app      = aws.app
    aws.endpoint = aws.endpoint
  }

  name                     = "bedrock-link"
  create_app_vpc           = true
  app_vpc_cidr             = var.app_vpc_cidr
  app_private_subnet_cidrs = var.app_subnet_cidrs
  create_endpoint_vpc      = true
  endpoint_vpc_cidr        = var.endpoint_vpc_cidr
  endpoint_subnet_cidrs    = var.endpoint_subnet_cidrs
  dns_mode                 = "resolver"
  tags                     = var.tags
}

module "resolver" {
  source    = "../../modules/resolver"
  providers = { aws = aws.app }

  name                = "bedrock-link"
  mode                = "nlb-service"
  launch_type         = "FARGATE"
  vpc_id              = module.interconnect.app_vpc_id
  subnet_ids          = module.interconnect.app_subnet_ids
  client_cidrs        = [var.app_vpc_cidr]
  image               = var.image
  sources             = [module.interconnect.resolver_source_object]
  create_dhcp_options = true
  tags                = var.tags
}
