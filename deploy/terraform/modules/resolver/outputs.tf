output "dns_server_ips" {
  description = "Addresses clients use as their DNS server: the NLB's fixed IPs (nlb-service), or empty for ecs-daemon (containers use daemon_listen on their host)."
  value       = local.is_nlb ? local.nlb_ips : []
}

output "dhcp_dns_servers" {
  description = "The DNS servers of the DHCP option set (at most 4 of dns_server_ips), when create_dhcp_options."
  value       = var.create_dhcp_options ? local.dhcp_dns_servers : []
}

output "nlb_arn" {
  description = "The internal NLB (nlb-service only)."
  value       = try(aws_lb.this[0].arn, null)
}

output "dhcp_options_id" {
  description = "The DHCP option set (when create_dhcp_options)."
  value       = try(aws_vpc_dhcp_options.this[0].id, null)
}

output "cluster_arn" {
  description = "The ECS cluster the resolver runs in."
  value       = local.cluster
}

output "service_name" {
  description = "The ECS service."
  value       = var.name
}

output "task_role_arn" {
  description = "The task role (ec2:DescribeVpcEndpoints, ec2:DescribeVpcEndpointServices, ec2:DescribeNetworkInterfaces only)."
  value       = aws_iam_role.task.arn
}

output "security_group_id" {
  description = "Security group of the nlb-service tasks."
  value       = try(aws_security_group.tasks[0].id, null)
}

output "autoscaling_group_name" {
  description = "The Auto Scaling group of the module's EC2 capacity (nlb-service on EC2 without cluster_arn)."
  value       = try(aws_autoscaling_group.instances[0].name, null)
}

output "log_group_name" {
  description = "CloudWatch log group of the resolver."
  value       = aws_cloudwatch_log_group.this.name
}

output "config" {
  description = "The bedrock-link configuration the tasks run with."
  value       = local.config
}

output "alarm_names" {
  description = "The CloudWatch alarms, by what they watch (see the README's Operations section for what each means and what to do)."
  value = merge(
    { for k, a in {
      nlb_healthy_hosts   = aws_cloudwatch_metric_alarm.nlb_healthy_hosts
      nlb_unhealthy_hosts = aws_cloudwatch_metric_alarm.nlb_unhealthy_hosts
      running_tasks       = aws_cloudwatch_metric_alarm.running_tasks
      servfail_ratio      = aws_cloudwatch_metric_alarm.servfail_ratio
      budget_refusals     = aws_cloudwatch_metric_alarm.budget_refusals
      all_addresses_down  = aws_cloudwatch_metric_alarm.all_addresses_down
    } : k => a[0].alarm_name if length(a) > 0 },
    { for i, a in aws_cloudwatch_metric_alarm.discovery_stale : "discovery_stale:${local.source_labels[i]}" => a.alarm_name },
  )
}

output "scalable_target" {
  description = "nlb-service: the Application Auto Scaling target that keeps the task count (resource id and bounds)."
  value = try({
    resource_id  = aws_appautoscaling_target.tasks[0].resource_id
    min_capacity = aws_appautoscaling_target.tasks[0].min_capacity
    max_capacity = aws_appautoscaling_target.tasks[0].max_capacity
  }, null)
}
