variable "name" {
  description = "Name prefix for every resource (and the Name tag)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name))
    error_message = "name must be 1-40 letters, digits or dashes."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# --- App VPC (where the application and the resolver run) ---------------------------------

variable "create_app_vpc" {
  description = "Create the app VPC (true) or use an existing one given by app_vpc_id (false)."
  type        = bool
  default     = false
}

variable "app_vpc_id" {
  description = "Existing app VPC id; required when create_app_vpc is false."
  type        = string
  default     = null

  validation {
    condition     = var.app_vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.app_vpc_id))
    error_message = "app_vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "app_vpc_cidr" {
  description = "CIDR of the app VPC to create (ignored for an existing VPC, whose CIDR is read)."
  type        = string
  default     = "10.10.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.app_vpc_cidr))
    error_message = "app_vpc_cidr must be an IPv4 CIDR such as 10.10.0.0/16."
  }
}

variable "app_private_subnet_cidrs" {
  description = "Private subnets of the app VPC to create, one per availability zone (created VPC only)."
  type        = list(string)
  default     = ["10.10.1.0/24", "10.10.2.0/24"]

  validation {
    condition     = alltrue([for c in var.app_private_subnet_cidrs : can(cidrnetmask(c))])
    error_message = "Every app_private_subnet_cidrs entry must be an IPv4 CIDR."
  }
}

variable "app_availability_zones" {
  description = "Zones for the app subnets this module creates, in order (subnet i goes to zone i mod n). Null: <region>a and <region>b."
  type        = list(string)
  default     = null
}

variable "app_route_table_ids" {
  description = "Route tables of the app VPC that get the route to the endpoint VPC. Null: found automatically (see app_route_table_scope)."
  type        = list(string)
  default     = null
}

variable "app_route_table_scope" {
  description = "Which route tables of an existing app VPC are found automatically: \"private\" (no route to an internet gateway) or \"all\"."
  type        = string
  default     = "private"

  validation {
    condition     = contains(["private", "all"], var.app_route_table_scope)
    error_message = "app_route_table_scope must be \"private\" or \"all\"."
  }
}

variable "app_allowed_cidrs" {
  description = "Client CIDRs allowed to reach the endpoints on TCP 443. Null: the app VPC's CIDR."
  type        = list(string)
  default     = null

  validation {
    condition     = var.app_allowed_cidrs == null || alltrue([for c in coalesce(var.app_allowed_cidrs, []) : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "app_allowed_cidrs must be IPv4 CIDRs, and never 0.0.0.0/0."
  }
}

# --- Endpoint VPC (remote region, holds the interface endpoints) --------------------------

variable "create_endpoint_vpc" {
  description = "Create the endpoint VPC (true) or use an existing one given by endpoint_vpc_id (false)."
  type        = bool
  default     = true
}

variable "endpoint_vpc_id" {
  description = "Existing endpoint VPC id; required when create_endpoint_vpc is false."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint_vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.endpoint_vpc_id))
    error_message = "endpoint_vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "endpoint_vpc_cidr" {
  description = "CIDR of the endpoint VPC to create. Must not overlap the app VPC (peering forbids it)."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.endpoint_vpc_cidr))
    error_message = "endpoint_vpc_cidr must be an IPv4 CIDR such as 10.20.0.0/16."
  }
}

variable "endpoint_subnet_cidrs" {
  description = "Subnets of the endpoint VPC to create, one per availability zone; each endpoint gets an ENI in each."
  type        = list(string)
  default     = ["10.20.1.0/24", "10.20.2.0/24"]

  validation {
    condition     = alltrue([for c in var.endpoint_subnet_cidrs : can(cidrnetmask(c))])
    error_message = "Every endpoint_subnet_cidrs entry must be an IPv4 CIDR."
  }
}

variable "endpoint_availability_zones" {
  description = "Zones for the endpoint subnets this module creates, in order. Null: <region>a and <region>b."
  type        = list(string)
  default     = null
}

variable "endpoint_subnet_ids" {
  description = "Subnets of an existing endpoint VPC for the endpoint ENIs (existing VPC only)."
  type        = list(string)
  default     = []
}

variable "endpoint_route_table_ids" {
  description = "Route tables of the endpoint VPC that get the route back to the app VPC. Null: every route table of the VPC."
  type        = list(string)
  default     = null
}

# --- Endpoints and DNS ---------------------------------------------------------------------

variable "services" {
  description = <<-EOT
    Interface endpoints to create in the endpoint VPC, keyed by the service's short name
    (com.amazonaws.<region>.<key>). Any interface service works. Per endpoint: an optional
    policy (JSON), subnet_ids (default: all endpoint subnets), ip_address_type ("ipv4" or
    "dualstack"), and private_dns_name for PHZ mode when the hostname is not
    <key>.<region>.amazonaws.com. The default keys match the resolver's default pattern
    "bedrock*".
  EOT
  type = map(object({
    policy           = optional(string)
    subnet_ids       = optional(list(string))
    ip_address_type  = optional(string, "ipv4")
    private_dns_name = optional(string)
  }))
  default = {
    "bedrock"               = {}
    "bedrock-runtime"       = {}
    "bedrock-agent"         = {}
    "bedrock-agent-runtime" = {}
  }

  validation {
    condition     = alltrue([for k, v in var.services : can(regex("^[a-z0-9][a-z0-9.-]*$", k)) && contains(["ipv4", "dualstack"], v.ip_address_type)])
    error_message = "services keys are service short names (bedrock-runtime, sts, ...); ip_address_type is \"ipv4\" or \"dualstack\"."
  }
}

variable "dns_mode" {
  description = "\"resolver\": bedrock-link answers the names (see the resolver module). \"phz\": one Route 53 private hosted zone per hostname in the app VPC, with alias records to the endpoint."
  type        = string
  default     = "resolver"

  validation {
    condition     = contains(["resolver", "phz"], var.dns_mode)
    error_message = "dns_mode must be \"resolver\" or \"phz\"."
  }
}

variable "peering_dns_resolution" {
  description = "Let each side of the peering resolve the other side's public DNS hostnames of instances to private IPs."
  type        = bool
  default     = true
}

variable "app_gateway_endpoints" {
  description = "Gateway endpoints to create in the app VPC for its own region (\"s3\", \"dynamodb\"). Gateway endpoints cannot be reached across peering, so they serve the app region only."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.app_gateway_endpoints : contains(["s3", "dynamodb"], s)])
    error_message = "app_gateway_endpoints may hold only \"s3\" and \"dynamodb\"."
  }
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow logs of the VPCs this module creates (CloudWatch Logs)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_days)
    error_message = "flow_logs_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, ... 365, ... 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key for the flow log groups. Null: CloudWatch Logs' default encryption."
  type        = string
  default     = null
}
