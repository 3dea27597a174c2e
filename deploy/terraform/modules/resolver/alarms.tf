# CloudWatch alarms: the load balancer's and ECS's own metrics, and the resolver's EMF metrics
# (emf.enabled). An alarm exists only where its metric does; each description says what to
# do (the README's Operations section has the same table).

locals {
  alarms        = var.alarms.enabled
  alarm_actions = var.alarms.sns_topic_arn == null ? [] : [var.alarms.sns_topic_arn]
  # The task count the service never goes below (autoscaling's floor, or the fixed count).
  min_tasks = var.autoscaling == null ? var.desired_count : var.autoscaling.min_tasks
  # The EMF metrics of this deployment: namespace and the Service dimension.
  emf_alarms    = local.alarms && var.emf.enabled
  emf_dimension = { Service = var.name }
  # The Source dimension is what bedrock-link calls a source: region/vpc-id. (A list: a VPC
  # created in the same run has no id to key a map with until it is applied.)
  source_labels = [for s in var.sources : "${s.region}/${s.vpc_id}"]
}

resource "aws_cloudwatch_metric_alarm" "nlb_healthy_hosts" {
  count = local.alarms && local.is_nlb ? 1 : 0

  alarm_name        = "${var.name}-nlb-healthy-hosts"
  alarm_description = "Fewer resolver tasks pass the NLB's /readyz check than the ${local.min_tasks} the service keeps. Clients still get answers from the others while one is healthy. Look at the tasks' logs (${local.log_group_name}): a source stale for max_stale, a task that cannot start (image, capacity), or the admin port blocked."
  namespace         = "AWS/NetworkELB"
  metric_name       = "HealthyHostCount"
  dimensions = {
    LoadBalancer = aws_lb.this[0].arn_suffix
    TargetGroup  = aws_lb_target_group.dns[0].arn_suffix
  }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = var.alarms.evaluation_minutes
  comparison_operator = "LessThanThreshold"
  threshold           = local.min_tasks
  # No figure from the NLB means no healthy target to count.
  treat_missing_data = "breaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = local.tags
}

resource "aws_cloudwatch_metric_alarm" "nlb_unhealthy_hosts" {
  count = local.alarms && local.is_nlb ? 1 : 0

  alarm_name        = "${var.name}-nlb-unhealthy-hosts"
  alarm_description = "A resolver task fails the NLB's /readyz check: its DNS listener is down, or a discovery source has been stale for max_stale (its names fail closed). See the task's logs (${local.log_group_name}) and the discovery-stale alarm; ECS replaces a task that stays unhealthy."
  namespace         = "AWS/NetworkELB"
  metric_name       = "UnHealthyHostCount"
  dimensions = {
    LoadBalancer = aws_lb.this[0].arn_suffix
    TargetGroup  = aws_lb_target_group.dns[0].arn_suffix
  }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.alarms.evaluation_minutes
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# Container Insights figures: on in the cluster the module creates, unknown in one given.
resource "aws_cloudwatch_metric_alarm" "running_tasks" {
  count = local.alarms && var.cluster_arn == null ? 1 : 0

  alarm_name          = "${var.name}-running-tasks"
  alarm_description   = "Fewer resolver tasks run than ECS wants. Look at the service's events: no capacity for a task (the hosts' Auto Scaling group at its max_size, or a zone without a host), an image that cannot be pulled, or a task that exits at start (its last log lines in ${local.log_group_name})."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = var.alarms.evaluation_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags

  metric_query {
    id          = "missing"
    expression  = "desired - running"
    label       = "Tasks wanted but not running"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { desired = "DesiredTaskCount", running = "RunningTaskCount" }
    content {
      id = metric_query.key
      metric {
        namespace   = "ECS/ContainerInsights"
        metric_name = metric_query.value
        dimensions  = { ClusterName = local.cluster_name, ServiceName = var.name }
        period      = 60
        stat        = metric_query.key == "desired" ? "Maximum" : "Minimum"
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "discovery_stale" {
  count = local.emf_alarms ? length(var.sources) : 0

  alarm_name          = "${var.name}-discovery-stale-${var.sources[count.index].vpc_id}"
  alarm_description   = "No successful discovery pass of ${local.source_labels[count.index]} within max_stale (${var.sources[count.index].max_stale}): its names get SERVFAIL (fail closed) and /readyz says not ready. Run `bedrock-link doctor`; check the task role's Describe permissions, the EC2 endpoint (${coalesce(var.sources[count.index].endpoint_url, "the region's public one")}) and the routes to it; the logs say which kind of failure (access_denied, throttled, unreachable)."
  namespace           = var.emf.namespace
  metric_name         = "DiscoveryStale"
  dimensions          = merge(local.emf_dimension, { Source = local.source_labels[count.index] })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "servfail_ratio" {
  count = local.emf_alarms ? 1 : 0

  alarm_name          = "${var.name}-servfail-ratio"
  alarm_description   = "More than ${var.alarms.servfail_percent}% of queries answered SERVFAIL. Look at the other alarms first (discovery stale, every address down, budget refusals); else the VPC resolver is failing (UpstreamTimeouts, UpstreamNetworkErrors): run `bedrock-link doctor` and check the security group towards 169.254.169.253."
  namespace           = var.emf.namespace
  metric_name         = "ServfailRatio"
  dimensions          = local.emf_dimension
  statistic           = "Average"
  period              = 60
  evaluation_periods  = var.alarms.evaluation_minutes
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarms.servfail_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# Without a budget (max_queries_per_second = 0) nothing is ever refused: no alarm.
resource "aws_cloudwatch_metric_alarm" "budget_refusals" {
  count = local.emf_alarms && var.upstream.max_queries_per_second > 0 ? 1 : 0

  alarm_name          = "${var.name}-upstream-budget-refusals"
  alarm_description   = "Cache misses found the upstream budget (${var.upstream.max_queries_per_second} queries/s per task, under the VPC resolver's 1024 packets/s per ENI) spent, and got a stale answer or SERVFAIL. Add tasks (autoscaling: each task has its own ENI, so its own 1024/s), or a larger cache; raise the budget only towards 1024 if nothing else on the task's ENI uses the VPC resolver."
  namespace           = var.emf.namespace
  metric_name         = "UpstreamBudgetRefusals"
  dimensions          = local.emf_dimension
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.alarms.evaluation_minutes
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarms.budget_refusals_per_minute
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "all_addresses_down" {
  count = local.emf_alarms ? 1 : 0

  alarm_name          = "${var.name}-all-addresses-down"
  alarm_description   = "A name's every endpoint address fails its health probe (TCP connect), so it is answered with all of them as a last resort. Check the endpoint's state and its security group (443 from the app CIDRs), and the peering routes both ways; `bedrock-link discover` lists the addresses."
  namespace           = var.emf.namespace
  metric_name         = "AllDownNames"
  dimensions          = local.emf_dimension
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.alarms.evaluation_minutes
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}
