# An existing app VPC (its private route tables are found automatically, and every CIDR it
# has gets a route back), a new endpoint VPC in the remote region, and bedrock-link as an ECS
# daemon on the existing cluster's EC2 hosts: containers in bridge mode use 172.17.0.1
# (docker0) as their DNS server. The hosts keep the VPC's own DNS, so the resolver never
# depends on itself.

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

  name                  = var.name
  app_region            = var.app_region
  endpoint_region       = var.endpoint_region
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

  name          = var.name
  region        = var.app_region
  mode          = "ecs-daemon"
  cluster_arn   = var.cluster_arn
  vpc_id        = var.app_vpc_id
  client_cidrs  = concat(module.interconnect.app_vpc_cidrs, ["172.17.0.0/16"])
  daemon_listen = ["172.17.0.1:53"]
  image         = var.image
  sources       = [module.interconnect.resolver_source_object]
  tags          = var.tags
}
