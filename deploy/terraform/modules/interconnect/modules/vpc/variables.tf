variable "side" {
  description = "Which side of the interconnect this VPC is, \"app\" or \"endpoint\": the parent's variable and provider names in error messages (<side>_availability_zones, aws.<side>)."
  type        = string

  validation {
    condition     = contains(["app", "endpoint"], var.side)
    error_message = "side is \"app\" or \"endpoint\"."
  }
}

variable "region" {
  description = "Region of the provider this module is given (the parent's <side>_region), named in error messages."
  type        = string
}

variable "name" {
  description = "Name tag of the VPC; its default security group and flow log group are named after it."
  type        = string
}

variable "subnet_name" {
  description = "Name tag prefix of the subnets (<subnet_name>-<position>) and, with route_tables = \"per_zone\", of the route tables (<subnet_name>-<zone>)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
}

variable "cidr" {
  description = "IPv4 CIDR of the VPC."
  type        = string
}

variable "subnet_cidrs" {
  description = "Private subnet CIDRs, spread over availability_zones in order (the i-th in zone i modulo the number of zones)."
  type        = list(string)
}

variable "availability_zones" {
  description = "Zones for the subnets, by name; all must be available through the provider."
  type        = list(string)
}

variable "route_tables" {
  description = "\"per_zone\": one route table per zone (so a NAT gateway per zone needs no other shape); \"one\": one route table for every subnet."
  type        = string

  validation {
    condition     = contains(["per_zone", "one"], var.route_tables)
    error_message = "route_tables is \"per_zone\" or \"one\"."
  }
}

variable "flow_logs" {
  description = "Flow logs of all traffic to a log group /vpc/<name>/flow-logs, written with role_arn (IAM is global: the parent's one role serves both regions); kms_key_arn null for CloudWatch Logs' default encryption. Null: no flow logs."
  type = object({
    role_arn       = string
    retention_days = number
    kms_key_arn    = optional(string)
  })
  default = null
}
