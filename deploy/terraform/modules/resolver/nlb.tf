# nlb-service: tasks behind an internal NLB with one fixed private IP per subnet, so clients
# (or a DHCP option set) can name them.

resource "aws_security_group" "tasks" {
  count = local.is_nlb ? 1 : 0

  # A prefix, and a new group before the old one goes: a rename never waits on task ENIs
  # that still hold the old group, and two deployments never collide.
  name_prefix = "${var.name}-resolver-"
  description = "bedrock-link tasks: DNS from the client CIDRs, health checks from the VPC"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-resolver" })

  ingress {
    description = "DNS over UDP from clients (the NLB preserves client addresses)"
    from_port   = 53
    to_port     = 53
    protocol    = "udp"
    cidr_blocks = var.client_cidrs
  }

  ingress {
    description = "DNS over TCP from clients"
    from_port   = 53
    to_port     = 53
    protocol    = "tcp"
    cidr_blocks = var.client_cidrs
  }

  ingress {
    description = "NLB health checks on /readyz from inside the VPC"
    from_port   = var.admin_port
    to_port     = var.admin_port
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }

  dynamic "egress" {
    for_each = local.egress_rules
    content {
      description = egress.value.description
      from_port   = egress.value.port
      to_port     = egress.value.port
      protocol    = egress.value.protocol
      cidr_blocks = egress.value.cidrs
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:NLB access logs are written only for TLS listeners; this NLB carries DNS on UDP/TCP 53, so a log would stay empty
  count = local.is_nlb ? 1 : 0

  name                             = "${var.name}-dns"
  internal                         = true
  load_balancer_type               = "network"
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
  tags                             = local.tags

  dynamic "subnet_mapping" {
    for_each = [for i, id in var.subnet_ids : { subnet_id = id, ip = local.nlb_ips[i] }]
    content {
      subnet_id            = subnet_mapping.value.subnet_id
      private_ipv4_address = subnet_mapping.value.ip
    }
  }

  lifecycle {
    precondition {
      condition = alltrue([
        for i, s in data.aws_subnet.this :
        length(var.nlb_private_ips) > 0 || (local.nlb_host_numbers[i] >= 4 && local.nlb_host_numbers[i] <= local.subnet_sizes[i] - 2)
      ])
      error_message = "nlb_ip_host_number lies outside a subnet of subnet_ids (AWS keeps the first four addresses and the last of each): lower it, or give nlb_private_ips."
    }
  }
}

resource "aws_lb_target_group" "dns" {
  count = local.is_nlb ? 1 : 0

  name                 = "${var.name}-dns"
  port                 = 53
  protocol             = "TCP_UDP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 10
  # Clients' own addresses reach the tasks over TCP too (UDP always keeps them), so the
  # resolver's allow list and the security group see real clients, not the NLB.
  preserve_client_ip = "true"
  tags               = local.tags

  health_check {
    protocol            = "HTTP"
    port                = tostring(var.admin_port)
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "dns" {
  count = local.is_nlb ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 53
  protocol          = "TCP_UDP"
  tags              = local.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.dns[0].arn
  }
}

resource "aws_ecs_service" "nlb" {
  count = local.is_nlb ? 1 : 0

  name            = var.name
  cluster         = local.cluster
  task_definition = aws_ecs_task_definition.this.arn
  # The first count; after that Application Auto Scaling keeps it (scaling.tf).
  desired_count                     = local.scaling.min_tasks
  launch_type                       = local.own_capacity ? null : var.launch_type
  platform_version                  = var.launch_type == "FARGATE" ? "LATEST" : null
  health_check_grace_period_seconds = var.health_check_grace_period_seconds
  # The DHCP option set is associated only once the tasks are running and healthy.
  wait_for_steady_state = var.create_dhcp_options
  tags                  = local.tags

  # A deployment whose tasks never turn healthy stops and rolls back, instead of replacing
  # healthy resolvers with broken ones.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "capacity_provider_strategy" {
    for_each = local.own_capacity ? [1] : []
    content {
      capacity_provider = aws_ecs_capacity_provider.this[0].name
      weight            = 1
    }
  }

  dynamic "ordered_placement_strategy" {
    for_each = var.launch_type == "EC2" ? [1] : []
    content {
      type  = "spread"
      field = "attribute:ecs.availability-zone"
    }
  }

  dynamic "placement_constraints" {
    for_each = var.launch_type == "EC2" ? [1] : []
    content {
      # One resolver per host: a host's loss costs one task.
      type = "distinctInstance"
    }
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks[0].id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.dns[0].arn
    container_name   = "bedrock-link"
    container_port   = 53
  }

  depends_on = [aws_lb_listener.dns, aws_ecs_cluster_capacity_providers.this]

  lifecycle {
    # The scalable target (scaling.tf) owns the count: desired_count, or autoscaling's.
    ignore_changes = [desired_count]
  }
}

# --- DHCP: every ENI in the VPC resolves through the NLB -----------------------------------

resource "aws_vpc_dhcp_options" "this" {
  count = local.is_nlb && var.create_dhcp_options ? 1 : 0

  domain_name_servers = local.dhcp_dns_servers
  domain_name         = local.dhcp_domain_name
  tags                = merge(local.tags, { Name = "${var.name}-bedrock-link" })

  lifecycle {
    precondition {
      condition     = length(local.nlb_ips) >= 2
      error_message = "Give the NLB at least two subnets before pointing the whole VPC at it."
    }
  }
}

# After the service is steady (wait_for_steady_state above): associating earlier would point
# the VPC at a resolver that does not answer yet.
resource "aws_vpc_dhcp_options_association" "this" {
  count = local.is_nlb && var.create_dhcp_options ? 1 : 0

  vpc_id          = var.vpc_id
  dhcp_options_id = aws_vpc_dhcp_options.this[0].id
  depends_on      = [aws_ecs_service.nlb]
}
