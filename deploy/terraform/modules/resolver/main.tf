data "aws_region" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

data "aws_subnet" "this" {
  for_each = toset(var.subnet_ids)
  id       = each.value
}

locals {
  tags    = merge(var.tags, { "managed-by" = "terraform", "module" = "bedrock-link/resolver" })
  region  = data.aws_region.current.name
  is_nlb  = var.mode == "nlb-service"
  cluster = var.cluster_arn != null ? var.cluster_arn : aws_ecs_cluster.this[0].arn

  # One fixed NLB address per subnet: given, or a fixed host number inside each subnet.
  nlb_ips = length(var.nlb_private_ips) > 0 ? var.nlb_private_ips : [
    for id in var.subnet_ids : cidrhost(data.aws_subnet.this[id].cidr_block, var.nlb_ip_host_number)
  ]

  config = templatefile("${path.module}/bedrock-link.toml.tftpl", {
    listen         = local.is_nlb ? ["0.0.0.0:53"] : var.daemon_listen
    ttl            = var.ttl
    on_unavailable = var.on_unavailable
    allow          = concat(var.client_cidrs, ["127.0.0.0/8"])
    admin_address  = local.is_nlb ? "0.0.0.0" : "127.0.0.1"
    admin_port     = var.admin_port
    sources        = var.sources
  })

  dhcp_domain_name = coalesce(var.dhcp_domain_name, local.region == "us-east-1" ? "ec2.internal" : "${local.region}.compute.internal")
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
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

# --- IAM: the task role may only describe endpoints, services and ENIs --------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Exactly the calls a discovery pass makes (deploy/iam/discovery-policy.json; a test checks
# both against the binary). EC2 Describe actions support no resource-level permissions.
data "aws_iam_policy_document" "discovery" {
  statement {
    sid = "BedrockLinkDiscovery"
    actions = [
      "ec2:DescribeVpcEndpoints",
      "ec2:DescribeVpcEndpointServices",
      "ec2:DescribeNetworkInterfaces",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "discovery" {
  name   = "discovery"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.discovery.json
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
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

  container_definitions = jsonencode([{
    name                   = "bedrock-link"
    image                  = var.image
    essential              = true
    command                = ["dns", "serve"]
    readonlyRootFilesystem = true
    environment = [
      # The whole configuration, so the stock image needs no file.
      { name = "BEDROCK_LINK_CONFIG_TOML", value = local.config },
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
    linuxParameters = { initProcessEnabled = true }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.this.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "bedrock-link"
      }
    }
  }])
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
