variable "name" {
  description = "Name of this deployment: prefixes every resource name (and the Name tag). Two deployments in one region need two names (load balancers and target groups are named)."
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

variable "region" {
  description = "Region of the aws provider (the app VPC's region). Given, not looked up, so that regions newer than the provider (ap-southeast-6 with 5.x) work."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be a region name such as ap-southeast-6."
  }
}

variable "mode" {
  description = "\"ecs-daemon\": one task per EC2 container instance, host networking, containers on the host use it. \"nlb-service\": an ECS service behind an internal NLB with fixed private IPs, for clients that name those IPs or for a DHCP option set."
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
  description = "nlb-service: private subnets of the app VPC for the tasks, the NLB (one fixed address per subnet, one subnet per zone) and the module's EC2 capacity. A DHCP option set names at most 4 of the addresses. Unused by ecs-daemon (the cluster's hosts are where they are)."
  type        = list(string)
  default     = []
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
  description = "The bedrock-link container image (built from deploy/docker/Dockerfile), in a registry the tasks can reach without this resolver (ECR in the same region)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster to run in. Null: a cluster is created. ecs-daemon needs container instances registered to it; nlb-service with launch_type = \"EC2\" and a created cluster gets the module's own capacity (ec2_capacity)."
  type        = string
  default     = null
}

variable "launch_type" {
  description = "Launch type of the nlb-service tasks: \"FARGATE\", or \"EC2\" (required with create_dhcp_options: see the module README, \"No DNS dependency on itself\"). ecs-daemon always uses EC2."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(["FARGATE", "EC2"], var.launch_type)
    error_message = "launch_type must be \"FARGATE\" or \"EC2\"."
  }
}

variable "ec2_capacity" {
  description = "EC2 container instances the module creates for nlb-service with launch_type = \"EC2\" and no cluster_arn: an Auto Scaling group across subnet_ids whose hosts resolve through the VPC resolver directly, never through the DHCP option set. ami_id null: the ECS-optimized Amazon Linux 2023 AMI (x86_64) from its public SSM parameter."
  type = object({
    instance_type = optional(string, "t3.small")
    min_size      = optional(number, 2)
    max_size      = optional(number, 4)
    ami_id        = optional(string)
    ami_parameter = optional(string, "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")
  })
  default = {}

  validation {
    condition     = var.ec2_capacity.min_size >= 1 && var.ec2_capacity.max_size >= var.ec2_capacity.min_size
    error_message = "ec2_capacity needs min_size >= 1 and max_size >= min_size."
  }
}

variable "desired_count" {
  description = "Tasks of the nlb-service (at least 2 for availability; with the module's EC2 capacity, one task per instance)."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 1 && var.desired_count <= 20
    error_message = "desired_count must be between 1 and 20."
  }
}

variable "health_check_grace_period_seconds" {
  description = "nlb-service: seconds ECS ignores failing NLB health checks of a new task (its first discovery pass and the NLB's two checks)."
  type        = number
  default     = 60

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 3600
    error_message = "health_check_grace_period_seconds must be between 0 and 3600."
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
  description = "Host number inside each subnet for the NLB's fixed address when nlb_private_ips is empty. Null: 53 where the subnet has room (/26 or larger), else the subnet's last usable address."
  type        = number
  default     = null

  validation {
    # AWS reserves the first four addresses of a subnet and the last.
    condition     = var.nlb_ip_host_number == null || try(var.nlb_ip_host_number >= 4, false)
    error_message = "nlb_ip_host_number must be 4 or more: AWS reserves the first four addresses of every subnet."
  }
}

variable "create_dhcp_options" {
  description = "Create a DHCP option set naming the NLB addresses as DNS servers and associate it with the VPC once the service is steady (nlb-service with the module's EC2 capacity only). Every ENI in the VPC, Fargate included, then resolves through bedrock-link."
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

variable "daemon_client_cidrs" {
  description = "ecs-daemon: the source addresses of the hosts' bridge-mode containers (docker0's subnet), which may query the resolver besides client_cidrs. Their queries stay on the host, so no security group rule is involved."
  type        = list(string)
  default     = ["172.17.0.0/16"]

  validation {
    condition     = alltrue([for c in var.daemon_client_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "daemon_client_cidrs must be IPv4 CIDRs, and never 0.0.0.0/0."
  }
}

variable "admin_port" {
  description = "Port of the admin listener (/healthz, /readyz, /metrics); the NLB health check uses /readyz on it."
  type        = number
  default     = 9153

  validation {
    condition     = var.admin_port >= 1 && var.admin_port <= 65535 && var.admin_port != 53
    error_message = "admin_port must be a port other than 53."
  }
}

variable "sources" {
  description = "Discovery sources: the endpoint VPCs to serve (the interconnect module's resolver_source_object output fits). endpoint_url: the EC2 API to call (the interconnect module's discovery endpoint, reached across the peering); null: the region's public EC2 API. health_check: probe each endpoint address (TCP connect on health_check_port) and leave out of answers those that refuse; endpoint_cidrs: the endpoint VPC's CIDRs, which the resolver's security group then allows the probes out to. role_arn (and external_id): a role in the endpoint account that discovery assumes for this source (the interconnect module's discovery_role); the task role may assume exactly these roles and no other."
  type = list(object({
    region            = string
    vpc_id            = string
    services          = optional(list(string), ["bedrock*"])
    endpoint_url      = optional(string)
    refresh           = optional(string, "60s")
    max_stale         = optional(string, "24h")
    health_check      = optional(bool, true)
    health_check_port = optional(number, 443)
    endpoint_cidrs    = optional(list(string), [])
    role_arn          = optional(string)
    external_id       = optional(string)
  }))

  validation {
    condition     = alltrue([for s in var.sources : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", s.region)) && can(regex("^vpc-[0-9a-f]+$", s.vpc_id))])
    error_message = "Each source needs a region (like ap-southeast-2) and a vpc_id (like vpc-0123456789abcdef0)."
  }

  validation {
    condition     = alltrue([for s in var.sources : s.health_check_port >= 1 && s.health_check_port <= 65535 && floor(s.health_check_port) == s.health_check_port])
    error_message = "health_check_port must be a port from 1 to 65535."
  }

  validation {
    condition     = alltrue([for s in var.sources : s.role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", coalesce(s.role_arn, "-")))])
    error_message = "role_arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)."
  }

  validation {
    condition     = alltrue([for s in var.sources : s.external_id == null || s.role_arn != null])
    error_message = "external_id only applies with role_arn."
  }

  validation {
    condition     = alltrue(flatten([for s in var.sources : [for c in s.endpoint_cidrs : can(cidrhost(c, 0))]]))
    error_message = "endpoint_cidrs must be CIDR blocks (like 10.20.0.0/16)."
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

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, ... 365, ... 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key for the log group, in this module's region. Null: CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be a KMS key ARN."
  }
}

variable "upstream" {
  description = "The resolver's use of the VPC resolver (upstream.* in the generated configuration). max_queries_per_second: the most queries it sends in any second, below the VPC resolver's 1024 packets/s per ENI (0: no limit); serve_stale: how long past expiry an answer may be given when the VPC resolver cannot answer (\"0s\": never); prefetch: refresh answers in steady use before they expire."
  type = object({
    max_queries_per_second = optional(number, 900)
    serve_stale            = optional(string, "1d")
    prefetch               = optional(bool, true)
  })
  default = {}

  validation {
    condition     = var.upstream.max_queries_per_second >= 0 && var.upstream.max_queries_per_second <= 1024 && floor(var.upstream.max_queries_per_second) == var.upstream.max_queries_per_second
    error_message = "upstream.max_queries_per_second must be a whole number from 0 (no limit) to 1024 (the VPC resolver's limit per ENI)."
  }

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.upstream.serve_stale))
    error_message = "upstream.serve_stale must be a duration such as \"1d\", \"12h\" or \"0s\"."
  }
}

variable "emf" {
  description = "CloudWatch Embedded Metric Format ([metrics] emf in the generated configuration): every interval the tasks write their figures to stdout, the awslogs driver ships them, and CloudWatch extracts the metrics from the log group (no agent, no API call, no IAM). The alarms and the upstream-rate scaling read them. namespace: their CloudWatch namespace (dimension Service = name)."
  type = object({
    enabled   = optional(bool, true)
    namespace = optional(string, "BedrockLink")
    interval  = optional(string, "60s")
  })
  default = {}

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#: -]{1,255}$", var.emf.namespace)) && !startswith(var.emf.namespace, "AWS/")
    error_message = "emf.namespace must be 1 to 255 letters, digits or . _ / # : - and space, and not start with AWS/."
  }

  validation {
    condition     = contains(["10s", "30s", "60s", "1m"], var.emf.interval)
    error_message = "emf.interval must be \"10s\", \"30s\" or \"60s\": the alarms' periods are 60 s, and CloudWatch stores figures below a minute only as high-resolution metrics."
  }
}

variable "alarms" {
  description = "CloudWatch alarms on the resolver (each description says what to do; see the README's Operations section): NLB healthy hosts below the task count and unhealthy hosts above zero (nlb-service), running tasks below desired (a cluster the module creates, where Container Insights is on), and from the EMF metrics (emf.enabled): a discovery source stale, the SERVFAIL share above servfail_percent, upstream budget refusals above budget_refusals_per_minute, names with every address down. sns_topic_arn: where alarm and OK notifications go (null: none)."
  type = object({
    enabled                    = optional(bool, true)
    sns_topic_arn              = optional(string)
    servfail_percent           = optional(number, 5)
    budget_refusals_per_minute = optional(number, 0)
    evaluation_minutes         = optional(number, 3)
  })
  default = {}

  validation {
    condition     = var.alarms.sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:", var.alarms.sns_topic_arn))
    error_message = "alarms.sns_topic_arn must be an SNS topic ARN."
  }

  validation {
    condition     = var.alarms.servfail_percent > 0 && var.alarms.servfail_percent <= 100 && var.alarms.budget_refusals_per_minute >= 0
    error_message = "alarms.servfail_percent must be above 0 and at most 100; alarms.budget_refusals_per_minute must be 0 or more."
  }

  validation {
    condition     = var.alarms.evaluation_minutes >= 1 && var.alarms.evaluation_minutes <= 60 && floor(var.alarms.evaluation_minutes) == var.alarms.evaluation_minutes
    error_message = "alarms.evaluation_minutes must be a whole number from 1 to 60."
  }
}

variable "autoscaling" {
  description = "nlb-service only: scale the task count between min_tasks and max_tasks. Target tracking keeps each task's upstream queries per second (the EMF metric UpstreamQueriesPerSecond, so emf.enabled) at upstream_share of upstream.max_queries_per_second, since every awsvpc task has its own ENI and so its own 1024 packets/s at the VPC resolver; a second policy keeps the tasks' average CPU at cpu_percent. Null: a fixed desired_count. Clients never notice: the NLB's addresses stay the same."
  type = object({
    min_tasks      = number
    max_tasks      = number
    upstream_share = optional(number, 0.5)
    cpu_percent    = optional(number, 60)
  })
  default = null

  validation {
    condition     = var.autoscaling == null || try(var.autoscaling.min_tasks >= 1 && var.autoscaling.max_tasks >= var.autoscaling.min_tasks && var.autoscaling.max_tasks <= 20, false)
    error_message = "autoscaling needs 1 <= min_tasks <= max_tasks <= 20."
  }

  validation {
    condition     = var.autoscaling == null || try(var.autoscaling.upstream_share > 0 && var.autoscaling.upstream_share <= 0.9 && var.autoscaling.cpu_percent >= 10 && var.autoscaling.cpu_percent <= 90, false)
    error_message = "autoscaling.upstream_share must be above 0 and at most 0.9 (the scaler needs room before the budget is spent), and cpu_percent between 10 and 90."
  }
}
