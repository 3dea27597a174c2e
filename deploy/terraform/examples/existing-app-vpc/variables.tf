variable "name" {
  description = "Name of the deployment (prefixes every resource)."
  type        = string
  default     = "bedrock-link"
}

variable "app_region" {
  description = "Region of the existing app VPC."
  type        = string
}

variable "endpoint_region" {
  description = "Region whose Bedrock endpoints the application calls."
  type        = string
}

variable "app_vpc_id" {
  description = "The existing app VPC (DNS support on)."
  type        = string
}

variable "cluster_arn" {
  description = "The existing ECS cluster whose EC2 container instances run the daemon."
  type        = string
}

variable "endpoint_vpc_cidr" {
  description = "CIDR of the new endpoint VPC (must not overlap the app VPC)."
  type        = string
  default     = "10.20.0.0/16"
}

variable "image" {
  description = "The bedrock-link image."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { project = "bedrock-link" }
}
