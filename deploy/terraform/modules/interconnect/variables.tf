variable "name" {
  description = "Name of this deployment: prefixes every resource name (and the Name tag). Two deployments in one account need two names."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,28}$", var.name))
    error_message = "name must be 1-28 letters, digits or dashes (it prefixes IAM role name prefixes, which AWS caps at 38 characters)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "app_region" {
  description = "Region of the aws.app provider (the app VPC). Given, not looked up, so that regions newer than the provider (ap-southeast-6 with 5.x) work."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.app_region))
    error_message = "app_region must be a region name such as ap-southeast-6."
  }
}

variable "endpoint_region" {
  description = "Region of the aws.endpoint provider (the endpoint VPC and its interface endpoints)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.endpoint_region))
    error_message = "endpoint_region must be a region name such as ap-southeast-2."
  }
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
  description = "CIDR of the app VPC to create (ignored for an existing VPC, whose CIDRs are read)."
  type        = string
  default     = "10.10.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.app_vpc_cidr))
    error_message = "app_vpc_cidr must be an IPv4 CIDR such as 10.10.0.0/16."
  }
}

variable "app_private_subnet_cidrs" {
  description = "Private subnets of the app VPC to create; subnet i goes to zone i mod the number of zones (created VPC only)."
  type        = list(string)
  default     = ["10.10.1.0/24", "10.10.2.0/24"]

  validation {
    condition     = length(var.app_private_subnet_cidrs) > 0 && alltrue([for c in var.app_private_subnet_cidrs : can(cidrnetmask(c))])
    error_message = "app_private_subnet_cidrs must hold at least one IPv4 CIDR."
  }
}

variable "app_availability_zones" {
  description = "Zones for the app subnets this module creates, in order. Null: <app_region>a and <app_region>b."
  type        = list(string)
  default     = null
}

variable "app_nat_gateway" {
  description = "Internet egress for the private subnets of an app VPC this module creates: \"none\", \"single\" (one NAT gateway) or \"one_per_az\". Needs app_public_subnet_cidrs. Image pulls, CloudWatch Logs and the ECS agent need a path out: a NAT gateway, or app_interface_endpoints."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "single", "one_per_az"], var.app_nat_gateway)
    error_message = "app_nat_gateway must be \"none\", \"single\" or \"one_per_az\"."
  }
}

variable "app_public_subnet_cidrs" {
  description = "Public subnets (NAT gateways only, one per zone in the order of the zones) of an app VPC this module creates, when app_nat_gateway is not \"none\"."
  type        = list(string)
  default     = ["10.10.101.0/24", "10.10.102.0/24"]

  validation {
    condition     = alltrue([for c in var.app_public_subnet_cidrs : can(cidrnetmask(c))])
    error_message = "Every app_public_subnet_cidrs entry must be an IPv4 CIDR."
  }
}

variable "app_route_table_ids" {
  description = "Route tables of an existing app VPC that get the routes to the endpoint VPC. Null: found automatically (see app_route_table_scope). Keyed by position: reordering the list replaces routes."
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
  description = "Client CIDRs allowed to reach the endpoints on TCP 443. Null: every CIDR of the app VPC. Each must lie inside the app VPC's CIDRs: VPC peering carries no traffic from other networks (it is not transitive), so nothing else could get a reply."
  type        = list(string)
  default     = null

  validation {
    condition     = var.app_allowed_cidrs == null || alltrue([for c in coalesce(var.app_allowed_cidrs, []) : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "app_allowed_cidrs must be IPv4 CIDRs, and never 0.0.0.0/0."
  }
}

variable "app_interface_endpoints" {
  description = "Interface endpoints for the app region's own services in the app VPC, with private DNS (for example ecr.api, ecr.dkr, logs, ecs, ecs-agent, ecs-telemetry, sts): a private path out for image pulls, logs and the ECS agent instead of a NAT gateway. Pair ECR with the \"s3\" gateway endpoint."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.app_interface_endpoints : can(regex("^[a-z0-9][a-z0-9.-]*$", s))])
    error_message = "app_interface_endpoints holds service short names such as ecr.api or logs."
  }
}

variable "app_endpoint_subnet_ids" {
  description = "Subnets of an existing app VPC for the ENIs of app_interface_endpoints (one per zone). Ignored when the module creates the VPC (its private subnets are used)."
  type        = list(string)
  default     = []
}

variable "app_gateway_endpoints" {
  description = "Gateway endpoints to create in the app VPC for its own region (\"s3\", \"dynamodb\"), on the app route tables. Gateway endpoints cannot be reached across peering, so they serve the app region only."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.app_gateway_endpoints : contains(["s3", "dynamodb"], s)])
    error_message = "app_gateway_endpoints may hold only \"s3\" and \"dynamodb\"."
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
    condition     = length(var.endpoint_subnet_cidrs) > 0 && alltrue([for c in var.endpoint_subnet_cidrs : can(cidrnetmask(c))])
    error_message = "endpoint_subnet_cidrs must hold at least one IPv4 CIDR."
  }
}

variable "endpoint_availability_zones" {
  description = "Zones for the endpoint subnets this module creates, in order. Null: <endpoint_region>a and <endpoint_region>b."
  type        = list(string)
  default     = null
}

variable "endpoint_subnet_ids" {
  description = "Subnets of an existing endpoint VPC for the endpoint ENIs, at most one per zone (existing VPC only)."
  type        = list(string)
  default     = []
}

variable "endpoint_vpc_cidrs" {
  description = "CIDRs of an existing endpoint VPC, when they are known before it exists (a hub created in the same run: the hub's endpoint_vpc_cidrs output). Null: read from the VPC."
  type        = list(string)
  default     = null

  validation {
    condition     = var.endpoint_vpc_cidrs == null || alltrue([for c in coalesce(var.endpoint_vpc_cidrs, []) : can(cidrnetmask(c))])
    error_message = "endpoint_vpc_cidrs must be IPv4 CIDRs."
  }
}

variable "endpoint_route_table_ids" {
  description = "Route tables of an existing endpoint VPC that get the routes back to the app VPC. Null: every route table of the VPC. Keyed by position: reordering the list replaces routes."
  type        = list(string)
  default     = null
}

# --- Endpoints and DNS ---------------------------------------------------------------------

variable "services" {
  description = <<-EOT
    Interface endpoints to create in the endpoint VPC, keyed by the service's short name
    (com.amazonaws.<endpoint_region>.<key>). Any interface service works. Per endpoint: an
    optional policy (JSON); subnet_ids (default: all endpoint subnets); ip_address_type
    ("ipv4", or "dualstack" in an existing endpoint VPC whose subnets have IPv6);
    private_dns_enabled (default true: the endpoint VPC itself resolves the service name
    privately; needs DNS support and DNS hostnames on that VPC); and private_dns_name, the
    hostname of the private hosted zone in PHZ mode when it is not
    <key>.<endpoint_region>.amazonaws.com. The default keys match the resolver's default
    pattern "bedrock*". connectivity: "peering" (default: the endpoint lives in the endpoint
    VPC, reached across the peering or transit gateway, answered by bedrock-link or a PHZ) or
    "cross_region_endpoint" (native cross-region PrivateLink: the endpoint is created in the app
    VPC with service_region = endpoint_region and private DNS on, and is left out of the
    resolver's scope and of PHZ mode; only for services AWS offers that way).
  EOT
  type = map(object({
    policy              = optional(string)
    subnet_ids          = optional(list(string))
    ip_address_type     = optional(string, "ipv4")
    private_dns_enabled = optional(bool, true)
    private_dns_name    = optional(string)
    connectivity        = optional(string, "peering")
  }))
  default = {
    "bedrock"               = {}
    "bedrock-runtime"       = {}
    "bedrock-agent"         = {}
    "bedrock-agent-runtime" = {}
  }

  validation {
    condition     = alltrue([for k, v in var.services : contains(["peering", "cross_region_endpoint"], v.connectivity)])
    error_message = "services[*].connectivity is \"peering\" or \"cross_region_endpoint\"."
  }

  validation {
    condition     = alltrue([for k, v in var.services : can(regex("^[a-z0-9][a-z0-9.-]*$", k)) && contains(["ipv4", "dualstack"], v.ip_address_type)])
    error_message = "services keys are service short names (bedrock-runtime, sts, ...); ip_address_type is \"ipv4\" or \"dualstack\"."
  }
}

variable "create_endpoints" {
  description = "Create the interface endpoints (and the discovery endpoint) in the endpoint VPC (true), or join endpoints that another deployment created there (false): they are looked up by VPC and service name, and this deployment adds only its peering, its routes and its CIDRs to endpoint_security_group_id, as rules of its own."
  type        = bool
  default     = true
}

variable "endpoint_security_group_id" {
  description = "The endpoints' security group when create_endpoints is false (the first deployment's endpoint_security_group_id output): this deployment adds a 443 ingress rule per app CIDR to it."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint_security_group_id == null || can(regex("^sg-[0-9a-f]+$", var.endpoint_security_group_id))
    error_message = "endpoint_security_group_id must look like sg-0123456789abcdef0."
  }
}

variable "connectivity" {
  description = "How the app VPC reaches the endpoint VPC: \"peering\" (a cross-region VPC peering, created here) or \"transit_gateway\" (the routes both ways point at app_transit_gateway_id and endpoint_transit_gateway_id; the attachments and the transit gateway peering are the caller's)."
  type        = string
  default     = "peering"

  validation {
    condition     = contains(["peering", "transit_gateway"], var.connectivity)
    error_message = "connectivity must be \"peering\" or \"transit_gateway\"."
  }
}

variable "app_transit_gateway_id" {
  description = "Transit gateway the app VPC's routes to the endpoint VPC point at (connectivity = \"transit_gateway\")."
  type        = string
  default     = null

  validation {
    condition     = var.app_transit_gateway_id == null || can(regex("^tgw-[0-9a-f]+$", var.app_transit_gateway_id))
    error_message = "app_transit_gateway_id must look like tgw-0123456789abcdef0."
  }
}

variable "endpoint_transit_gateway_id" {
  description = "Transit gateway the endpoint VPC's routes back to the app VPC point at (connectivity = \"transit_gateway\")."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint_transit_gateway_id == null || can(regex("^tgw-[0-9a-f]+$", var.endpoint_transit_gateway_id))
    error_message = "endpoint_transit_gateway_id must look like tgw-0123456789abcdef0."
  }
}

variable "discovery_role" {
  description = "Create, in the endpoint account, a role that bedrock-link's discovery assumes (its resolver_source_object carries role_arn): exactly ec2:DescribeVpcEndpoints, ec2:DescribeVpcEndpointServices and ec2:DescribeNetworkInterfaces, assumable only by trusted_role_arns (ARNs or ARN patterns with *, such as the resolver module's task role \"arn:aws:iam::111111111111:role/NAME-task-*\"), and only with external_id when one is given. Null: no role (discovery runs with the task role's own permissions, in the app account)."
  type = object({
    trusted_role_arns = list(string)
    external_id       = optional(string)
  })
  default = null

  validation {
    condition     = var.discovery_role == null || (length(try(var.discovery_role.trusted_role_arns, [])) > 0 && alltrue([for a in try(var.discovery_role.trusted_role_arns, []) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/*-]+$", a))]))
    error_message = "discovery_role.trusted_role_arns must hold at least one IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME, * allowed in the name)."
  }

  validation {
    condition     = try(var.discovery_role.external_id, null) == null || (can(regex("^[A-Za-z0-9_+=,.@:/-]+$", var.discovery_role.external_id)) && length(coalesce(try(var.discovery_role.external_id, null), "--")) >= 2 && length(coalesce(try(var.discovery_role.external_id, null), "--")) <= 1224)
    error_message = "discovery_role.external_id must be 2-1224 letters, digits or _+=,.@:/- characters."
  }
}

variable "dns_mode" {
  description = "\"resolver\": bedrock-link answers the names (see the resolver module). \"phz\": one Route 53 private hosted zone per hostname in the app VPC, with alias records to the endpoint's regional DNS name."
  type        = string
  default     = "resolver"

  validation {
    condition     = contains(["resolver", "phz"], var.dns_mode)
    error_message = "dns_mode must be \"resolver\" or \"phz\"."
  }
}

variable "discovery_endpoint" {
  description = "Resolver mode: create an ec2 interface endpoint in the endpoint VPC (private DNS off) so that bedrock-link's discovery reaches the endpoint region's EC2 API across the peering, through the endpoint's own DNS name (public DNS, private IPs, covered by the service certificate). Its URL is in resolver_source_object. False: discovery needs another path (NAT gateway)."
  type        = bool
  default     = true
}

variable "peering_dns_resolution" {
  description = "Let each side of the peering resolve the other side's public DNS hostnames of instances to private IPs."
  type        = bool
  default     = true
}

# --- Flow logs -----------------------------------------------------------------------------

variable "flow_logs" {
  description = "VPC flow logs (CloudWatch Logs) for the VPCs this module creates."
  type        = bool
  default     = true
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow logs (CloudWatch Logs)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_days)
    error_message = "flow_logs_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, ... 365, ... 3653)."
  }
}

variable "app_log_kms_key_arn" {
  description = "KMS key (in app_region: KMS keys are regional) for the app VPC's flow log group. Null: CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.app_log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.app_log_kms_key_arn))
    error_message = "app_log_kms_key_arn must be a KMS key ARN."
  }
}

variable "endpoint_log_kms_key_arn" {
  description = "KMS key (in endpoint_region) for the endpoint VPC's flow log group. Null: CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint_log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.endpoint_log_kms_key_arn))
    error_message = "endpoint_log_kms_key_arn must be a KMS key ARN."
  }
}
