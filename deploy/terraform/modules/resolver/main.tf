data "aws_vpc" "this" {
  id = var.vpc_id
}

# By position, not by id: the subnets may be created in the same run, and only the number of
# them is known when planning.
data "aws_subnet" "this" {
  count = var.mode == "nlb-service" ? length(var.subnet_ids) : 0
  id    = var.subnet_ids[count.index]
}

locals {
  tags   = merge(var.tags, { "managed-by" = "terraform", "module" = "bedrock-link/resolver" })
  is_nlb = var.mode == "nlb-service"
  # nlb-service on EC2 in a cluster of our own: the module brings the instances (capacity.tf).
  own_capacity = local.is_nlb && var.launch_type == "EC2" && var.cluster_arn == null
  cluster      = var.cluster_arn != null ? var.cluster_arn : aws_ecs_cluster.this[0].arn
  # The name (the ARN's last part): what CloudWatch dimensions and scaling resource ids use.
  cluster_name = var.cluster_arn != null ? reverse(split("/", var.cluster_arn))[0] : aws_ecs_cluster.this[0].name

  # The VPC resolver. The resolver's upstream, and the DNS server of its own EC2 hosts: never
  # the DHCP option set's servers, which are this resolver.
  vpc_resolver = "169.254.169.253"

  # One fixed NLB address per subnet: given, or a host number inside each subnet (53 where the
  # subnet has room, else its last usable address; AWS reserves the first four and the last).
  subnet_sizes = [for s in data.aws_subnet.this : pow(2, 32 - tonumber(split("/", s.cidr_block)[1]))]
  nlb_host_numbers = [
    for size in local.subnet_sizes : coalesce(var.nlb_ip_host_number, size > 64 ? 53 : size - 2)
  ]
  # Null where the host number does not fit: the NLB's precondition then says so by name.
  nlb_ips = length(var.nlb_private_ips) > 0 ? var.nlb_private_ips : [
    for i, s in data.aws_subnet.this : try(cidrhost(s.cidr_block, local.nlb_host_numbers[i]), null)
  ]
  # A DHCP option set holds at most 4 DNS servers (and Linux reads only 3).
  dhcp_dns_servers = slice(local.nlb_ips, 0, min(4, length(local.nlb_ips)))

  config = templatefile("${path.module}/bedrock-link.toml.tftpl", {
    listen         = local.is_nlb ? ["0.0.0.0:53"] : var.daemon_listen
    ttl            = var.ttl
    on_unavailable = var.on_unavailable
    # In daemon mode, bridge-mode containers query docker0 from its subnet, not the VPC's.
    allow         = concat(var.client_cidrs, local.is_nlb ? [] : var.daemon_client_cidrs, ["127.0.0.0/8"])
    upstream      = local.vpc_resolver
    admin_address = local.is_nlb ? "0.0.0.0" : "127.0.0.1"
    admin_port    = var.admin_port
    sources       = var.sources
    # The resolver's budget towards the VPC resolver, and what it does when that fails.
    max_queries_per_second = var.upstream.max_queries_per_second
    serve_stale            = var.upstream.serve_stale
    prefetch               = var.upstream.prefetch
    emf                    = var.emf.enabled ? { interval = var.emf.interval, namespace = var.emf.namespace, service = var.name } : null
  })

  log_group_name = "/ecs/${var.name}"
  # Docker's default capabilities other than NET_BIND_SERVICE (ECS starts from Docker's set).
  dropped_capabilities = [
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_RAW",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
  ]
  # The one container of the task. A local (not inline) so that its every value is known
  # without applying: tests/image runs the image exactly as this says, read with
  # `terraform console`.
  container = {
    name                   = "bedrock-link"
    image                  = var.image
    essential              = true
    command                = ["dns", "serve"]
    readonlyRootFilesystem = true
    environment = [
      # The whole configuration, so the stock image needs no file.
      { name = "BEDROCK_LINK_CONFIG_TOML", value = local.config },
      # `doctor` and `discover` in the task (ECS Exec) then say which served services the
      # app region offers over cross-region PrivateLink.
      { name = "BEDROCK_LINK_APP_REGION", value = var.region },
      { name = "BEDROCK_LINK_LOG_FORMAT", value = "json" },
    ]
    portMappings = [
      { containerPort = 53, hostPort = 53, protocol = "udp" },
      { containerPort = 53, hostPort = 53, protocol = "tcp" },
      { containerPort = var.admin_port, hostPort = var.admin_port, protocol = "tcp" },
    ]
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/bedrock-link", "healthcheck", "--url", "http://127.0.0.1:${var.admin_port}/readyz"]
      interval    = 10
      timeout     = 3
      retries     = 3
      startPeriod = 15
    }
    # The image's non-root user, said outright so that no task runs the resolver as root.
    user = "65532:65532"
    linuxParameters = {
      # A real PID 1 (signals forwarded, children reaped), as the image has no init of its own.
      initProcessEnabled = true
      # Every Docker default capability but NET_BIND_SERVICE, which the binary's file
      # capability needs in the bounding set to bind port 53. Dropped, not added: Fargate
      # only allows adding SYS_PTRACE.
      capabilities = { drop = local.dropped_capabilities }
    }
    # SIGTERM drains (upstream.timeout_ms + 1 s); SIGKILL only after this.
    stopTimeout = 10
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = local.log_group_name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "bedrock-link"
      }
    }
  }

  dhcp_domain_name = coalesce(var.dhcp_domain_name, var.region == "us-east-1" ? "ec2.internal" : "${var.region}.compute.internal")
}

resource "aws_ecs_cluster" "this" {
  count = var.cluster_arn == null ? 1 : 0
  name  = var.name
  tags  = local.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags

  lifecycle {
    precondition {
      condition     = var.log_kms_key_arn == null || try(split(":", var.log_kms_key_arn)[3], "") == var.region
      error_message = "log_kms_key_arn must be a key in ${var.region}: KMS keys are regional."
    }
  }
}

# --- IAM: the task role may only describe endpoints, services and ENIs --------------------

locals {
  # Trust policies: who may assume the task roles (ECS tasks) and the hosts' role (EC2).
  assume_role_policy = {
    for service in ["ecs-tasks", "ec2"] : service => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Action    = "sts:AssumeRole"
        Principal = { Service = "${service}.amazonaws.com" }
      }]
    })
  }

  # What the resolver's tasks and hosts may reach: HTTPS (the EC2 API for discovery, across
  # the peering or through NAT; ECR, ECS and CloudWatch Logs), DNS to the VPC resolver, and
  # the health probes to each source's endpoint VPC (explicit, so that they stay allowed on a
  # port other than 443; the endpoint security group admits the app CIDRs).
  egress_rules = concat(
    [for s in var.sources : {
      description = "Health probes (tcp/${s.health_check_port}) to the endpoints of ${s.vpc_id}"
      protocol    = "tcp"
      port        = s.health_check_port
      cidrs       = s.endpoint_cidrs
    } if s.health_check && length(s.endpoint_cidrs) > 0],
    [{ description = "HTTPS: the EC2 API (discovery), ECR, ECS, CloudWatch Logs", protocol = "tcp", port = 443, cidrs = ["0.0.0.0/0"] }],
    [for protocol in ["udp", "tcp"] : {
      description = "DNS (${protocol}) to the VPC resolver"
      protocol    = protocol
      port        = 53
      cidrs       = ["${local.vpc_resolver}/32", data.aws_vpc.this.cidr_block]
    }],
  )
}

resource "aws_iam_role" "task" {
  name_prefix        = "${var.name}-task-"
  assume_role_policy = local.assume_role_policy["ecs-tasks"]
  tags               = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Exactly the calls a discovery pass makes (deploy/iam/discovery-policy.json; tests check both
# against the binary). EC2 Describe actions support no resource-level permissions.
resource "aws_iam_role_policy" "discovery" {
  name = "discovery"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "BedrockLinkDiscovery"
      Effect = "Allow"
      Action = [
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcEndpointServices",
        "ec2:DescribeNetworkInterfaces",
      ]
      Resource = "*"
    }]
  })
}

# Sources in another account: the task role may assume exactly their roles; without any, it
# is denied every AssumeRole. (Always one policy: the roles' ARNs may be unknown until apply,
# and a count cannot wait for them.)
resource "aws_iam_role_policy" "assume_discovery" {
  name = "assume-discovery-roles"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "BedrockLinkAssumeDiscovery"
      Effect   = length(local.discovery_roles) > 0 ? "Allow" : "Deny"
      Action   = "sts:AssumeRole"
      Resource = length(local.discovery_roles) > 0 ? local.discovery_roles : ["*"]
    }]
  })
}

locals {
  discovery_roles = sort(distinct(compact([for s in var.sources : s.role_arn])))
}

resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  assume_role_policy = local.assume_role_policy["ecs-tasks"]
  tags               = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# --- The task -------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  network_mode             = local.is_nlb ? "awsvpc" : "host"
  requires_compatibilities = local.is_nlb ? [var.launch_type] : ["EC2"]
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn
  tags                     = local.tags

  container_definitions = jsonencode([local.container])
  # The log group exists before any task would write to it.
  depends_on = [aws_cloudwatch_log_group.this]

  lifecycle {
    # Checks of the module's inputs taken together (this resource always exists).
    precondition {
      condition     = !var.create_dhcp_options || local.own_capacity
      error_message = "create_dhcp_options needs mode = \"nlb-service\", launch_type = \"EC2\" and no cluster_arn: once the VPC's DHCP option set names the resolver, its own tasks must not resolve through it (image pulls, the ECS agent, logs), and only the module's own EC2 hosts are set up to resolve through the VPC resolver instead. Fargate tasks always resolve through the option set."
    }
    precondition {
      condition     = local.is_nlb || var.autoscaling == null
      error_message = "autoscaling applies to mode = \"nlb-service\" only: ecs-daemon runs one task per host, so its count is the hosts'."
    }
    precondition {
      condition     = local.is_nlb || length(var.nlb_private_ips) == 0
      error_message = "nlb_private_ips applies to mode = \"nlb-service\" only."
    }
    precondition {
      condition     = length(var.nlb_private_ips) == 0 || length(var.nlb_private_ips) == length(var.subnet_ids)
      error_message = "nlb_private_ips needs one address per subnet of subnet_ids (${length(var.subnet_ids)})."
    }
  }
}

resource "aws_ecs_service" "daemon" {
  count = local.is_nlb ? 0 : 1

  name                = var.name
  cluster             = local.cluster
  task_definition     = aws_ecs_task_definition.this.arn
  launch_type         = "EC2"
  scheduling_strategy = "DAEMON"
  tags                = local.tags
}
