variable "name" {
  description = "Name of the deployment (prefixes every resource)."
  type        = string
  default     = "bedrock-link"
}

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
  description = "Private subnets of the app VPC, one per zone (the NLB gets a fixed address in each, and the resolver hosts run there)."
  type        = list(string)
  default     = ["10.10.1.0/24", "10.10.2.0/24"]
}

variable "app_public_subnet_cidrs" {
  description = "Public subnets of the app VPC for the NAT gateway(s)."
  type        = list(string)
  default     = ["10.10.101.0/24", "10.10.102.0/24"]
}

variable "app_nat_gateway" {
  description = "\"single\", \"one_per_az\", or \"none\" (then list the app region's services in app_interface_endpoints: ecr.api, ecr.dkr, logs, ecs, ecs-agent, ecs-telemetry)."
  type        = string
  default     = "single"
}

variable "app_interface_endpoints" {
  description = "The app region's own services as interface endpoints in the app VPC (a private path for image pulls, logs and the ECS agent)."
  type        = set(string)
  default     = []
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

variable "deletion_protection" {
  description = "Deletion protection on the resolver's NLB (set false, apply, then destroy)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { project = "bedrock-link" }
}

variable "alarm_topic_arn" {
  description = "SNS topic for the resolver's alarms (alarm and OK). Null: the alarms exist but notify nobody."
  type        = string
  default     = null
}
