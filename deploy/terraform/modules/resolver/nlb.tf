# nlb-service: tasks behind an internal NLB with one fixed private IP per subnet, so a DHCP
# option set can name them.

resource "aws_security_group" "tasks" {
  count = local.is_nlb ? 1 : 0

  name        = "${var.name}-resolver"
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

  egress {
    description = "DNS to the VPC resolver"
    from_port   = 53
    to_port     = 53
    protocol    = "udp"
    cidr_blocks = ["169.254.169.253/32", data.aws_vpc.this.cidr_block]
  }

  egress {
    description = "DNS over TCP to the VPC resolver"
    from_port   = 53
    to_port     = 53
    protocol    = "tcp"
    cidr_blocks = ["169.254.169.253/32", data.aws_vpc.this.cidr_block]
  }

  egress {
    description = "HTTPS to the EC2 API (discovery) and the image registry"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
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
    for_each = { for i, id in var.subnet_ids : id => local.nlb_ips[i] }
    content {
      subnet_id            = subnet_mapping.key
      private_ipv4_address = subnet_mapping.value
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

  name             = var.name
  cluster          = local.cluster
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.desired_count
  launch_type      = var.launch_type
  platform_version = var.launch_type == "FARGATE" ? "LATEST" : null
  tags             = local.tags

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

  depends_on = [aws_lb_listener.dns]
}

# --- DHCP: every ENI in the VPC resolves through the NLB -----------------------------------

resource "aws_vpc_dhcp_options" "this" {
  count = local.is_nlb && var.create_dhcp_options ? 1 : 0

  # A DHCP option set holds at most 4 DNS servers (and Linux reads only 3).
  domain_name_servers = slice(local.nlb_ips, 0, min(4, length(local.nlb_ips)))
  domain_name         = local.dhcp_domain_name
  tags                = merge(local.tags, { Name = "${var.name}-bedrock-link" })

  lifecycle {
    precondition {
      condition     = length(local.nlb_ips) >= 2
      error_message = "Give the NLB at least two subnets before pointing the whole VPC at it."
    }
  }
}

resource "aws_vpc_dhcp_options_association" "this" {
  count = local.is_nlb && var.create_dhcp_options ? 1 : 0

  vpc_id          = var.vpc_id
  dhcp_options_id = aws_vpc_dhcp_options.this[0].id
}
