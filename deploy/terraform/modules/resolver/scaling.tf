# nlb-service: the task count belongs to Application Auto Scaling. Without `autoscaling` its
# bounds are both desired_count, so a change of desired_count applies through the scalable
# target and the service never fights a scaler over its count.

locals {
  scaling   = local.is_nlb ? coalesce(var.autoscaling, { min_tasks = var.desired_count, max_tasks = var.desired_count, upstream_share = 0, cpu_percent = 0 }) : null
  scales    = local.is_nlb && var.autoscaling != null
  resource  = "service/${local.cluster_name}/${var.name}"
  per_task  = local.scales ? var.autoscaling.upstream_share * var.upstream.max_queries_per_second : 0
  emf_ready = var.emf.enabled && var.upstream.max_queries_per_second > 0
}

resource "aws_appautoscaling_target" "tasks" {
  count = local.is_nlb ? 1 : 0

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = local.resource
  min_capacity       = local.scaling.min_tasks
  max_capacity       = local.scaling.max_tasks
  tags               = local.tags

  depends_on = [aws_ecs_service.nlb]

  lifecycle {
    precondition {
      condition     = var.autoscaling == null || local.emf_ready
      error_message = "autoscaling tracks the EMF metric UpstreamQueriesPerSecond against upstream.max_queries_per_second: it needs emf.enabled and a budget above 0."
    }
    precondition {
      condition     = !local.own_capacity || local.scaling.max_tasks <= var.ec2_capacity.max_size
      error_message = "With the module's own EC2 capacity each task needs a host of its own (distinctInstance): ec2_capacity.max_size (${var.ec2_capacity.max_size}) must be at least the most tasks (${local.scaling.max_tasks})."
    }
  }
}

# Each task's own upstream rate (the Service dimension's average over tasks) at a share of
# its budget: the VPC resolver's per-ENI limit is never the ceiling.
resource "aws_appautoscaling_policy" "upstream_rate" {
  count = local.scales ? 1 : 0

  name               = "${var.name}-upstream-rate"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.tasks[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.tasks[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.tasks[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = local.per_task
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    customized_metric_specification {
      namespace   = var.emf.namespace
      metric_name = "UpstreamQueriesPerSecond"
      statistic   = "Average"
      unit        = "Count/Second"

      dimensions {
        name  = "Service"
        value = var.name
      }
    }
  }
}

resource "aws_appautoscaling_policy" "cpu" {
  count = local.scales ? 1 : 0

  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.tasks[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.tasks[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.tasks[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling.cpu_percent
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
