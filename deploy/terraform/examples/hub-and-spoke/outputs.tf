output "endpoint_vpc_id" {
  description = "The hub's endpoint VPC."
  value       = module.hub.endpoint_vpc_id
}

output "endpoint_account_id" {
  description = "The network account (which both peerings name as their peer owner)."
  value       = module.hub.endpoint_account_id
}

output "endpoint_ids" {
  description = "The hub's interface endpoints, per service."
  value       = module.hub.endpoint_ids
}

output "joined_endpoint_ids" {
  description = "The same endpoints, as spoke B found them."
  value       = module.spoke_b.endpoint_ids
}

output "endpoint_security_group_id" {
  description = "The endpoints' security group: one rule per spoke CIDR, each owned by its spoke."
  value       = module.hub.endpoint_security_group_id
}

output "discovery_role_arn" {
  description = "The role both resolvers discover as."
  value       = module.hub.discovery_role_arn
}

output "peering_connection_ids" {
  description = "Each spoke's peering with the hub."
  value       = { a = module.hub.peering_connection_id, b = module.spoke_b.peering_connection_id }
}

output "app_vpc_ids" {
  description = "The spokes' app VPCs."
  value       = { a = module.hub.app_vpc_id, b = module.spoke_b.app_vpc_id }
}

output "task_role_arns" {
  description = "The resolvers' task roles (each may assume discovery_role_arn only)."
  value       = { a = module.resolver_a.task_role_arn, b = module.resolver_b.task_role_arn }
}

output "resolver_configs" {
  description = "The configuration each resolver runs with."
  value       = { a = module.resolver_a.config, b = module.resolver_b.config }
}
