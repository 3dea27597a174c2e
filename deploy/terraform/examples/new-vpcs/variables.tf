variable "app_region" {
  description = "Region of the application (and of the resolver)."
  type        = string
  default     = "ap-southeast-6"
}

variable "endpoint_region" {
  description = "Region whose Bedrock endpoints the application calls."
  type        = string
  default     = "ap-southeast-2"
}

variable "app_vpc_cidr" {
  description = "CIDR of the new app VPC."
  type        = string
  default     = "10.10.0.0/16"
}

variable "app_subnet_cidrs" {
  description = "Private subnets of the app VPC (the NLB gets a fixed address in each)."
  type        = list(string)
  default     = ["10.10.1.0/24", "10.10.2.0/24"]
}

variable "endpoint_vpc_cidr" {
  description = "CIDR of the new endpoint VPC (must not overlap the app VPC)."
  type        = string
  default     = "10.20.0.0/16"
}

variable "endpoint_subnet_cidrs" {
  description = "Subnets of the endpoint VPC (one endpoint ENI in each)."
  type        = list(string)
  default     = ["10.20.1.0/24", "10.20.2.0/24"]
}

variable "image" {
  description = "The bedrock-link image in a registry the app region can pull from (ECR)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { project = "bedrock-link" }
}
