variable "name" {
  description = "Name prefix for every resource (and the Name tag)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,28}$", var.name))
    error_message = "name must be 1-28 letters, digits or dashes (it prefixes load balancer and target group names)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "mode" {
  description = "\"ecs-daemon\": one task per EC2 container instance, host networking, containers on the host use it. \"nlb-service\": an ECS service (Fargate or EC2) behind an internal NLB with fixed private IPs, for a DHCP option set."
  type        = string

  validation {
    condition     = contains(["ecs-daemon", "nlb-service"], var.mode)
    error_message = "mode must be \"ecs-daemon\" or \"nlb-service\"."
  }
}

variable "vpc_id" {
  description = "The app VPC."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the app VPC for the tasks and the NLB (one NLB address per subnet; at most 4 are used by DHCP)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is needed."
  }
}

variable "client_cidrs" {
  description = "Client CIDRs allowed to query the resolver on 53/udp and 53/tcp (the app VPC CIDR, typically). Never 0.0.0.0/0."
  type        = list(string)

  validation {
    condition     = length(var.client_cidrs) > 0 && alltrue([for c in var.client_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "client_cidrs must be IPv4 CIDRs, at least one, and never 0.0.0.0/0."
  }
}

variable "image" {
  description = "The bedrock-link container image (built from deploy/docker/Dockerfile)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster to run in. Null: a cluster is created (nlb-service on Fargate needs no instances; ecs-daemon needs container instances registered to it)."
  type        = string
  default     = null
}

variable "launch_type" {
  description = "Launch type of the nlb-service tasks: \"FARGATE\" or \"EC2\" (ecs-daemon always uses EC2)."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(["FARGATE", "EC2"], var.launch_type)
    error_message = "launch_type must be \"FARGATE\" or \"EC2\"."
  }
}

variable "desired_count" {
  description = "Tasks of the nlb-service (at least 2 for availability)."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 1 && var.desired_count <= 20
    error_message = "desired_count must be between 1 and 20."
  }
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory (MiB)."
  type        = number
  default     = 512
}

variable "nlb_private_ips" {
  description = "Fixed NLB address per subnet (same order as subnet_ids). Empty: host number nlb_ip_host_number of each subnet."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for ip in var.nlb_private_ips : can(cidrnetmask("${ip}/32"))])
    error_message = "nlb_private_ips must be IPv4 addresses."
  }
}

variable "nlb_ip_host_number" {
  description = "Host number inside each subnet for the NLB's fixed address when nlb_private_ips is empty."
  type        = number
  default     = 53
}

variable "create_dhcp_options" {
  description = "Create a DHCP option set naming the NLB addresses as DNS servers and associate it with the VPC (nlb-service only). Every ENI in the VPC, Fargate included, then resolves through bedrock-link."
  type        = bool
  default     = false
}

variable "dhcp_domain_name" {
  description = "domain-name of the DHCP option set. Null: <region>.compute.internal (us-east-1: ec2.internal)."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Deletion protection on the NLB (turn off before destroying)."
  type        = bool
  default     = true
}

variable "daemon_listen" {
  description = "ecs-daemon: addresses the resolver listens on, on the host (docker0's 172.17.0.1 serves bridge-mode containers)."
  type        = list(string)
  default     = ["172.17.0.1:53"]
}

variable "admin_port" {
  description = "Port of the admin listener (/healthz, /readyz, /metrics); the NLB health check uses /readyz on it."
  type        = number
  default     = 9153
}

variable "sources" {
  description = "Discovery sources: the endpoint VPCs to serve (the interconnect module's resolver_source_object output fits)."
  type = list(object({
    region       = string
    vpc_id       = string
    services     = optional(list(string), ["bedrock*"])
    endpoint_url = optional(string)
    refresh      = optional(string, "60s")
    max_stale    = optional(string, "24h")
  }))

  validation {
    condition     = alltrue([for s in var.sources : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", s.region)) && can(regex("^vpc-[0-9a-f]+$", s.vpc_id))])
    error_message = "Each source needs a region (like ap-southeast-2) and a vpc_id (like vpc-0123456789abcdef0)."
  }
}

variable "ttl" {
  description = "TTL of the answers for endpoint names, seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.ttl >= 0 && var.ttl <= 86400
    error_message = "ttl must be between 0 and 86400."
  }
}

variable "on_unavailable" {
  description = "Answer for an endpoint name without a usable address: \"servfail\" (fail closed) or \"forward\"."
  type        = string
  default     = "servfail"

  validation {
    condition     = contains(["servfail", "forward"], var.on_unavailable)
    error_message = "on_unavailable must be \"servfail\" or \"forward\"."
  }
}

variable "log_retention_days" {
  description = "Retention of the resolver's log group."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key for the log group. Null: CloudWatch Logs' default encryption."
  type        = string
  default     = null
}
