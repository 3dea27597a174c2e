# An existing app VPC (its private route tables are found automatically), a new endpoint VPC
# in the remote region, and bedrock-link as an ECS daemon on the existing cluster's EC2 hosts:
# containers in bridge mode use 172.17.0.1 (docker0) as their DNS server.

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

  name                  = "bedrock-link"
  create_app_vpc        = false
  app_vpc_id            = var.app_vpc_id
  app_route_table_scope = "private"
  create_endpoint_vpc   = true
  endpoint_vpc_cidr     = var.endpoint_vpc_cidr
  services = {
    "bedrock-runtime"       = {}
    "bedrock-agent-runtime" = {}
  }
  tags = var.tags
}

module "resolver" {
  source    = "../../modules/resolver"
  providers = { aws = aws.app }

  name          = "bedrock-link"
  mode          = "ecs-daemon"
  cluster_arn   = var.cluster_arn
  vpc_id        = var.app_vpc_id
  subnet_ids    = var.app_subnet_ids
  client_cidrs  = [module.interconnect.app_vpc_cidr, "172.17.0.0/16"]
  daemon_listen = ["172.17.0.1:53"]
  image         = var.image
  sources       = [module.interconnect.resolver_source_object]
  tags          = var.tags
}
