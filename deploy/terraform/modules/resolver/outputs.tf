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
