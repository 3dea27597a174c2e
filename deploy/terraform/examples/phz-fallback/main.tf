# The classic design, no resolver: one Route 53 private hosted zone per Bedrock hostname in
# the app VPC, each with an alias record to the endpoint's regional DNS name in the remote
# region. The app VPC needs DNS support and DNS hostnames on (the module checks).

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

  name                = var.name
  app_region          = var.app_region
  endpoint_region     = var.endpoint_region
  create_app_vpc      = false
  app_vpc_id          = var.app_vpc_id
  create_endpoint_vpc = true
  endpoint_vpc_cidr   = var.endpoint_vpc_cidr
  dns_mode            = "phz"
  tags                = var.tags
}
