# Each side's VPC moved into modules/vpc (it was written twice, once per side): state from
# before the move carries over without replacing anything.

moved {
  from = aws_vpc.app[0]
  to   = module.app_vpc[0].aws_vpc.this
}
moved {
  from = aws_subnet.app
  to   = module.app_vpc[0].aws_subnet.this
}
moved {
  from = aws_route_table.app
  to   = module.app_vpc[0].aws_route_table.this
}
moved {
  from = aws_route_table_association.app
  to   = module.app_vpc[0].aws_route_table_association.this
}
moved {
  from = aws_default_security_group.app[0]
  to   = module.app_vpc[0].aws_default_security_group.this
}
moved {
  from = aws_cloudwatch_log_group.app_flow_logs
  to   = module.app_vpc[0].aws_cloudwatch_log_group.flow_logs
}
moved {
  from = aws_flow_log.app
  to   = module.app_vpc[0].aws_flow_log.this
}

moved {
  from = aws_vpc.endpoint[0]
  to   = module.endpoint_vpc[0].aws_vpc.this
}
moved {
  from = aws_subnet.endpoint
  to   = module.endpoint_vpc[0].aws_subnet.this
}
moved {
  from = aws_route_table.endpoint[0]
  to   = module.endpoint_vpc[0].aws_route_table.this["all"]
}
moved {
  from = aws_route_table_association.endpoint
  to   = module.endpoint_vpc[0].aws_route_table_association.this
}
moved {
  from = aws_default_security_group.endpoint[0]
  to   = module.endpoint_vpc[0].aws_default_security_group.this
}
moved {
  from = aws_cloudwatch_log_group.endpoint_flow_logs
  to   = module.endpoint_vpc[0].aws_cloudwatch_log_group.flow_logs
}
moved {
  from = aws_flow_log.endpoint
  to   = module.endpoint_vpc[0].aws_flow_log.this
}

# The peering and the endpoints' group became optional (connectivity, create_endpoints).
moved {
  from = aws_vpc_peering_connection.this
  to   = aws_vpc_peering_connection.this[0]
}
moved {
  from = aws_vpc_peering_connection_accepter.this
  to   = aws_vpc_peering_connection_accepter.this[0]
}
moved {
  from = aws_security_group.endpoints
  to   = aws_security_group.endpoints[0]
}
