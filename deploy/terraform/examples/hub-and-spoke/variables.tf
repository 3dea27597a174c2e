variable "name" {
  description = "Name of the deployment; the spokes are <name>-a and <name>-b."
  type        = string
  default     = "hub"
}

variable "app_region" {
  description = "Region of the spokes (the app VPCs and their resolvers)."
  type        = string
  default     = "ap-southeast-6"
}

variable "endpoint_region" {
  description = "Region of the hub: the endpoint VPC and its interface endpoints."
  type        = string
  default     = "ap-southeast-2"
}

variable "network_role_arn" {
  description = "A role in the network account that Terraform assumes for the hub's resources (null: the network provider's own credentials, for example a profile of that account)."
  type        = string
  default     = null
}

variable "external_id" {
  description = "The external ID the discovery role asks the resolvers for (null: none)."
  type        = string
  default     = "bedrock-link"
}

variable "spoke_a_cidr" {
  description = "CIDR of spoke A's app VPC."
  type        = string
  default     = "10.10.0.0/16"
}

variable "spoke_b_cidr" {
  description = "CIDR of spoke B's app VPC (must not overlap spoke A or the hub)."
  type        = string
  default     = "10.30.0.0/16"
}

variable "endpoint_vpc_cidr" {
  description = "CIDR of the hub's endpoint VPC."
  type        = string
  default     = "10.20.0.0/16"
}

variable "services" {
  description = "The hub's interface endpoints (the interconnect module's services)."
  type = map(object({
    policy              = optional(string)
    subnet_ids          = optional(list(string))
    ip_address_type     = optional(string, "ipv4")
    private_dns_enabled = optional(bool, true)
    private_dns_name    = optional(string)
    connectivity        = optional(string, "peering")
  }))
  default = {
    "bedrock-runtime"       = {}
    "bedrock-agent-runtime" = {}
  }
}

variable "image" {
  description = "The bedrock-link image (in a registry the spokes can pull from)."
  type        = string
}

variable "deletion_protection" {
  description = "Deletion protection on the resolvers' load balancers."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
