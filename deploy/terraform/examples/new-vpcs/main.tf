# Two new VPCs: the app VPC in ap-southeast-6 (New Zealand) and an endpoint VPC in
# ap-southeast-2 (Sydney) with the Bedrock interface endpoints, peered. bedrock-link runs as
# an ECS service on the module's own EC2 hosts behind an internal NLB, and a DHCP option set
# makes every ENI in the app VPC (Fargate tasks included) resolve through it.
#
# Paths out of the app VPC: discovery reaches the EC2 API of ap-southeast-2 through an ec2
# interface endpoint across the peering; image pulls, CloudWatch Logs and the ECS agent go
# through a NAT gateway (or, with app_nat_gateway = "none", through app-region interface
# endpoints: see app_interface_endpoints).

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

  name                     = var.name
  app_region               = var.app_region
  endpoint_region          = var.endpoint_region
  create_app_vpc           = true
  app_vpc_cidr             = var.app_vpc_cidr
  app_private_subnet_cidrs = var.app_subnet_cidrs
  app_public_subnet_cidrs  = var.app_public_subnet_cidrs
  app_nat_gateway          = var.app_nat_gateway
  app_interface_endpoints  = var.app_interface_endpoints
  app_gateway_endpoints    = var.app_nat_gateway == "none" ? ["s3"] : []
  create_endpoint_vpc      = true
  endpoint_vpc_cidr        = var.endpoint_vpc_cidr
  endpoint_subnet_cidrs    = var.endpoint_subnet_cidrs
  dns_mode                 = "resolver"
  discovery_endpoint       = true
  tags                     = var.tags
}

module "resolver" {
  source    = "../../modules/resolver"
  providers = { aws = aws.app }

  name                = var.name
  region              = var.app_region
  mode                = "nlb-service"
  launch_type         = "EC2"
  vpc_id              = module.interconnect.app_vpc_id
  subnet_ids          = module.interconnect.app_subnet_ids
  client_cidrs        = module.interconnect.app_vpc_cidrs
  image               = var.image
  sources             = [module.interconnect.resolver_source_object]
  create_dhcp_options = true
  # Each task has its own ENI, so its own 1024 packets/s at the VPC resolver: scale on the
  # upstream rate (the EMF metrics, on by default) and CPU, within the hosts' max_size (4).
  autoscaling         = { min_tasks = 2, max_tasks = 4 }
  alarms              = { sns_topic_arn = var.alarm_topic_arn }
  deletion_protection = var.deletion_protection
  tags                = var.tags
}
