output "dns_server_ips" {
  description = "The resolver's fixed addresses (the DHCP option set names up to 4 of them)."
  value       = module.resolver.dns_server_ips
}

output "endpoint_vpc_id" {
  description = "The endpoint VPC (what bedrock-link discovers)."
  value       = module.interconnect.endpoint_vpc_id
}

output "endpoint_ids" {
  description = "Interface endpoint per service."
  value       = module.interconnect.endpoint_ids
}

output "discovery_endpoint_url" {
  description = "The EC2 API endpoint bedrock-link's discovery calls across the peering."
  value       = module.interconnect.discovery_endpoint_url
}

output "peering_connection_id" {
  description = "The cross-region peering."
  value       = module.interconnect.peering_connection_id
}

output "dhcp_options_id" {
  description = "The DHCP option set associated with the app VPC."
  value       = module.resolver.dhcp_options_id
}

output "resolver_config" {
  description = "The configuration bedrock-link runs with."
  value       = module.resolver.config
}

output "app_vpc_id" {
  description = "The app VPC (its DHCP option set names the resolver)."
  value       = module.interconnect.app_vpc_id
}

output "alarm_names" {
  description = "The resolver's CloudWatch alarms, by what they watch."
  value       = module.resolver.alarm_names
}

output "scalable_target" {
  description = "The Application Auto Scaling target of the resolver service."
  value       = module.resolver.scalable_target
}
