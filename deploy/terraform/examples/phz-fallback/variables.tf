variable "name" {
  description = "Name of the deployment (prefixes every resource)."
  type        = string
  default     = "bedrock-phz"
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
  description = "The existing app VPC (the private hosted zones are associated with it)."
  type        = string
}

variable "endpoint_vpc_cidr" {
  description = "CIDR of the new endpoint VPC."
  type        = string
  default     = "10.20.0.0/16"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { project = "bedrock-link" }
}
