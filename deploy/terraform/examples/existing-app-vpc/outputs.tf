output "endpoint_vpc_id" {
  description = "The endpoint VPC (what bedrock-link discovers)."
  value       = module.interconnect.endpoint_vpc_id
}

output "endpoint_ids" {
  description = "Interface endpoint per service."
  value       = module.interconnect.endpoint_ids
}

output "resolver_source" {
  description = "The [[source]] block the daemon runs with."
  value       = module.interconnect.resolver_source
}

output "app_route_table_ids" {
  description = "The app route tables that got a route to the endpoint VPC."
  value       = module.interconnect.app_route_table_ids
}

output "resolver_config" {
  description = "The configuration bedrock-link runs with."
  value       = module.resolver.config
}
