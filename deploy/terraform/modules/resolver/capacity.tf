# The module's own EC2 capacity for nlb-service on EC2 (required with the DHCP option set).
#
# No DNS dependency on itself: once the VPC's DHCP option set names the NLB, every ENI that
# takes its DNS servers from DHCP resolves through bedrock-link, and a resolver tier that did
# so too could not start when no task is healthy (its image pull, the ECS agent and log
# shipping would all wait on itself). These hosts pin their resolver to the VPC resolver
# before the ECS agent starts, so the container runtime, the agent and the awslogs driver
# never use the option set; bedrock-link itself resolves the EC2 API through its configured
# upstream (the VPC resolver as well), never through the system resolver.

data "aws_ssm_parameter" "ami" {
  count = local.own_capacity && var.ec2_capacity.ami_id == null ? 1 : 0
  name  = var.ec2_capacity.ami_parameter
}

locals {
  ami_id = local.own_capacity ? coalesce(var.ec2_capacity.ami_id, try(nonsensitive(data.aws_ssm_parameter.ami[0].value), null)) : null

  user_data = <<-EOT
    #!/bin/bash
    # bedrock-link resolver host: resolve through the VPC resolver, never through the DHCP
    # option set (which names the resolver this host runs).
    set -euo pipefail
    rm -f /etc/resolv.conf
    printf 'nameserver ${local.vpc_resolver}\noptions timeout:2 attempts:3\n' > /etc/resolv.conf
    cat >> /etc/ecs/ecs.config <<'CONFIG'
    ECS_CLUSTER=${var.name}
    ECS_AWSVPC_BLOCK_IMDS=true
    ECS_ENABLE_CONTAINER_METADATA=true
    CONFIG
  EOT
}

resource "aws_iam_role" "instance" {
  count = local.own_capacity ? 1 : 0

  name_prefix        = "${var.name}-host-"
  assume_role_policy = local.assume_role_policy["ec2"]
  tags               = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy_attachment" "instance" {
  count = local.own_capacity ? 1 : 0

  role       = aws_iam_role.instance[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "instance" {
  count = local.own_capacity ? 1 : 0

  name_prefix = "${var.name}-host-"
  role        = aws_iam_role.instance[0].name
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "instances" {
  count = local.own_capacity ? 1 : 0

  name_prefix = "${var.name}-hosts-"
  description = "bedrock-link EC2 hosts: no inbound; HTTPS and DNS out"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-hosts" })

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

resource "aws_launch_template" "instances" {
  count = local.own_capacity ? 1 : 0

  name_prefix            = "${var.name}-hosts-"
  image_id               = local.ami_id
  instance_type          = var.ec2_capacity.instance_type
  user_data              = base64encode(local.user_data)
  vpc_security_group_ids = [aws_security_group.instances[0].id]
  tags                   = local.tags

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance[0].arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 30
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-resolver-host" })
  }
}

resource "aws_autoscaling_group" "instances" {
  count = local.own_capacity ? 1 : 0

  name_prefix           = "${var.name}-hosts-"
  vpc_zone_identifier   = var.subnet_ids
  min_size              = var.ec2_capacity.min_size
  max_size              = var.ec2_capacity.max_size
  health_check_type     = "EC2"
  protect_from_scale_in = false

  launch_template {
    id      = aws_launch_template.instances[0].id
    version = aws_launch_template.instances[0].latest_version
  }

  # A new launch template version (AMI, user data) replaces the hosts a few at a time.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    create_before_destroy = true
    # Managed scaling moves the desired capacity.
    ignore_changes = [desired_capacity]
  }
}

resource "aws_ecs_capacity_provider" "this" {
  count = local.own_capacity ? 1 : 0

  name = "${var.name}-hosts"
  tags = local.tags

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.instances[0].arn
    managed_termination_protection = "DISABLED"

    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  count = local.own_capacity ? 1 : 0

  cluster_name       = aws_ecs_cluster.this[0].name
  capacity_providers = [aws_ecs_capacity_provider.this[0].name]

  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.this[0].name
    weight            = 1
  }
}
